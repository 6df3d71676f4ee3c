from aod.cli import main

main()
