from aoctl.cli import main

main()
