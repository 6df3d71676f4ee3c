"""A second machine for SSH tests (issue 21): a network namespace of the test's own with a veth
pair (10.213.x.1 here, 10.213.x.2 there, x free on this machine), a second unix user with its own HOME and a venv (built
with /usr/bin/python3, this checkout installed), a real sshd (Debian's openssh-server) listening
in the namespace on a config the test writes, a key pair and a known_hosts file. All of it torn
down afterwards: the user's processes (by pid), sshd, the namespace (and its veth), the user.

    with ssh_host() as host:
        host.ssh_config   # an ssh_config with the identity and known_hosts: `ssh -F` it
        host.target       # user@10.213.x.2
        host.aoctl        # that user's aoctl

The namespace separates only the network: same filesystem and processes (INFRA.md).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SUBNETS = [f"10.213.{n}" for n in range(0, 250)]
"""Where the test's hosts live: a /24 of 10.213.x no other run on this machine holds (two
suites at once each make their own host, and two hosts on one subnet answer for each other)."""
LOCK = Path("/tmp/ao-sshd-subnets.lock")


@contextmanager
def _free_subnet() -> Iterator[str]:
    """A 10.213.x prefix no interface has, held (by a lock file) until its veth exists."""
    import fcntl

    with LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        taken = run("ip", "-o", "-4", "addr", "show").stdout
        for subnet in SUBNETS:
            if f" {subnet}." not in taken:
                yield subnet
                return
        raise RuntimeError("every 10.213.x/24 is taken by an interface: remove the stale aoh* veths (`ip link`)")


def missing_tools() -> str | None:
    """Why these tests cannot run here (None: they can)."""
    for tool in ("ip", "ssh", "ssh-keygen", "useradd", "userdel", "runuser"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if not Path("/usr/sbin/sshd").exists():
        return "sshd is not installed (Debian: openssh-server)"
    if not Path("/usr/bin/python3").exists():
        return "/usr/bin/python3 is missing"
    if os.geteuid() != 0:
        return "network namespaces and a second user need root"
    if subprocess.run(["ip", "netns", "list"], capture_output=True).returncode != 0:
        return "`ip netns` does not work here"
    return None


def run(*argv: str, check: bool = True, **kw: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(argv), capture_output=True, text=True, timeout=600, **kw)  # type: ignore[call-overload]
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


@dataclass
class SshHost:
    user: str
    home: Path
    address: str
    netns: str
    veth: str
    dir: Path
    ssh_config: Path
    venv: Path

    @property
    def target(self) -> str:
        return f"{self.user}@{self.address}"

    @property
    def aoctl(self) -> str:
        return str(self.venv / "bin" / "aoctl")

    def ssh(self, *command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run a command there over ssh, as the local aod's ssh would (batch mode, keys checked)."""
        return subprocess.run(["ssh", "-F", str(self.ssh_config), "-o", "BatchMode=yes", self.target, "--", *command],
                              capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)

    def as_user(self, *command: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """Run a command as the host's user directly (set-up and checks, not the link)."""
        env = ["env", "-i", f"HOME={self.home}", "PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"]
        return subprocess.run(["runuser", "-u", self.user, "--", *env, *command], capture_output=True, text=True, timeout=timeout)

    def link_down(self) -> None:
        run("ip", "link", "set", self.veth, "down")

    def link_up(self) -> None:
        run("ip", "link", "set", self.veth, "up")

    def processes(self) -> list[int]:
        found = run("ps", "-u", self.user, "-o", "pid=", check=False).stdout.split()
        return [int(p) for p in found]


@contextmanager
def ssh_host() -> Iterator[SshHost]:
    tag = f"{os.getpid() % 100000}"
    user, netns, veth, peer = f"aoh{tag}", f"aoh{tag}", f"aoh{tag}h", f"aoh{tag}n"
    workdir = Path(tempfile.mkdtemp(prefix="ao-sshd-", dir="/tmp"))
    home = Path(f"/home/{user}")
    sshd: subprocess.Popen[bytes] | None = None
    made_user = made_netns = False
    try:
        # -- the network: a namespace with its own address -------------------------------------
        run("ip", "netns", "add", netns)
        made_netns = True
        run("ip", "link", "add", veth, "type", "veth", "peer", "name", peer)
        run("ip", "link", "set", peer, "netns", netns)
        with _free_subnet() as subnet:
            run("ip", "addr", "add", f"{subnet}.1/24", "dev", veth)
        run("ip", "link", "set", veth, "up")
        run("ip", "netns", "exec", netns, "ip", "addr", "add", f"{subnet}.2/24", "dev", peer)
        run("ip", "netns", "exec", netns, "ip", "link", "set", peer, "up")
        run("ip", "netns", "exec", netns, "ip", "link", "set", "lo", "up")
        # -- the user, its HOME, its venv with this checkout -------------------------------------
        run("useradd", "-m", "-d", str(home), "-s", "/bin/sh", user)
        made_user = True
        host = SshHost(user, home, f"{subnet}.2", netns, veth, workdir, workdir / "ssh_config", home / "venv")
        built = host.as_user("/usr/bin/python3", "-m", "venv", str(host.venv))
        if built.returncode != 0:
            raise RuntimeError(f"venv for {user}: {built.stderr}")
        installed = host.as_user(str(host.venv / "bin" / "pip"), "install", "-q", str(ROOT))
        if installed.returncode != 0:
            raise RuntimeError(f"pip install of {ROOT} for {user}: {installed.stderr[-2000:]}")
        # -- keys, sshd ---------------------------------------------------------------------------
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(workdir / "host_key"))
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(workdir / "id"))
        ssh_dir = home / ".ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        (ssh_dir / "authorized_keys").write_text((workdir / "id.pub").read_text())
        os.chmod(ssh_dir / "authorized_keys", 0o600)
        entry = pwd.getpwnam(user)
        for path in (ssh_dir, ssh_dir / "authorized_keys"):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        (workdir / "known_hosts").write_text(f"{subnet}.2 " + (workdir / "host_key.pub").read_text())
        (workdir / "sshd_config").write_text(
            f"ListenAddress {subnet}.2\nPort 22\nHostKey {workdir / 'host_key'}\nPidFile {workdir / 'sshd.pid'}\n"
            f"UsePAM yes\nAllowUsers {user}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "AuthorizedKeysFile .ssh/authorized_keys\nStreamLocalBindUnlink yes\nAllowStreamLocalForwarding yes\n"
            "ClientAliveInterval 5\nClientAliveCountMax 3\n"
        )
        host.ssh_config.write_text(
            f"Host {subnet}.2\n  IdentityFile {workdir / 'id'}\n  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {workdir / 'known_hosts'}\n  StrictHostKeyChecking yes\n"
        )
        Path("/run/sshd").mkdir(exist_ok=True)
        sshd = subprocess.Popen(
            ["ip", "netns", "exec", netns, "/usr/sbin/sshd", "-D", "-f", str(workdir / "sshd_config"), "-E", str(workdir / "sshd.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        import time

        deadline = time.monotonic() + 20
        while True:  # a condition with a deadline: sshd answers a login
            if host.ssh("true", timeout=10).returncode == 0:
                break
            if sshd.poll() is not None or time.monotonic() > deadline:
                log = (workdir / "sshd.log").read_text(errors="replace") if (workdir / "sshd.log").exists() else ""
                raise RuntimeError(f"sshd did not take a login: {host.ssh('true').stderr} {log[-1000:]}")
            time.sleep(0.1)
        yield host
    finally:
        if made_user:
            for pid in SshHost.processes(SshHost(user, home, "", "", "", workdir, workdir, workdir)):  # the user's: ours
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass
        if sshd is not None:
            sshd.terminate()
            try:
                sshd.wait(10)
            except subprocess.TimeoutExpired:
                sshd.kill()
                sshd.wait()
        if made_netns:
            run("ip", "netns", "del", netns, check=False)
            run("ip", "link", "del", veth, check=False)
        if made_user:
            run("userdel", "-r", "-f", user, check=False)
        shutil.rmtree(workdir, ignore_errors=True)
