//! Shared helpers for the reference-client tests (`tests/ref_*.rs`): temporary directories,
//! free loopback ports, a test certificate made with the openssl CLI, and a guard that stops
//! a server process (and its process group) when the test ends, passes or fails.
//!
//! Nothing here touches the host clock; servers started through it bind to 127.0.0.1 only.

#![allow(dead_code)] // each test file uses a different subset

use std::net::{TcpListener, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Fails the test loudly when `binary` is missing, with the command that installs it.
pub fn require_binary(binary: &str, package: &str) -> PathBuf {
    for dir in [
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
        "/usr/local/bin",
        "/usr/local/sbin",
    ] {
        let p = Path::new(dir).join(binary);
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "{binary} not found: this test runs against the real {binary}. Install it with \
         `scripts/install-test-deps` (as root; it runs `apt-get install {package}`)"
    );
}

/// A directory under the system temp dir, removed (with its contents) on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A new, empty directory whose name starts with `prefix`.
    pub fn new(prefix: &str) -> TempDir {
        let unique = format!(
            "{prefix}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        );
        let path = std::env::temp_dir().join(unique);
        std::fs::create_dir_all(&path).expect("create temp dir");
        // chronyd drops privileges after start: let its user read the files in here.
        let _ =
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755));
        TempDir(path)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A UDP port on 127.0.0.1 that was free a moment ago.
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A test PKI made with the openssl CLI: a self-signed CA and a server certificate it signed
/// for `localhost` and 127.0.0.1 (P-256). The key is world-readable: it is a throwaway test
/// key and chronyd reads it after dropping root.
pub struct TestPki {
    /// The CA certificate (PEM): the trust anchor clients are given.
    pub ca: PathBuf,
    /// The server certificate (PEM).
    pub cert: PathBuf,
    /// The server's private key (PEM).
    pub key: PathBuf,
}

fn openssl(args: &[&str], dir: &Path) {
    let bin = require_binary("openssl", "openssl");
    let out = Command::new(bin)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Makes a [`TestPki`] in `dir`, file names starting with `stem`.
pub fn test_pki(dir: &Path, stem: &str) -> TestPki {
    let f = |name: &str| format!("{stem}-{name}");
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut ca_args = vec!["req", "-x509"];
    ca_args.extend(ec);
    let (ca_key, ca, key, csr, cert, ext) = (
        f("ca-key.pem"),
        f("ca.pem"),
        f("key.pem"),
        f("csr.pem"),
        f("cert.pem"),
        f("ext.cnf"),
    );
    ca_args.extend([
        "-keyout",
        &ca_key,
        "-out",
        &ca,
        "-days",
        "2",
        "-subj",
        "/CN=ppsd test CA",
    ]);
    openssl(&ca_args, dir);
    let mut req_args = vec!["req"];
    req_args.extend(ec);
    req_args.extend(["-keyout", &key, "-out", &csr, "-subj", "/CN=localhost"]);
    openssl(&req_args, dir);
    std::fs::write(
        dir.join(&ext),
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
         extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca,
            "-CAkey",
            &ca_key,
            "-set_serial",
            "2",
            "-days",
            "2",
            "-extfile",
            &ext,
            "-out",
            &cert,
        ],
        dir,
    );
    let key = dir.join(key);
    let _ = std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o644));
    TestPki {
        ca: dir.join(ca),
        cert: dir.join(cert),
        key,
    }
}

/// A server process started by a test, in its own process group; on drop the group gets
/// SIGTERM, then SIGKILL if it has not exited within two seconds.
pub struct ServerGuard {
    child: Child,
    name: String,
    log: PathBuf,
    after_stop: Vec<Command>,
}

impl ServerGuard {
    /// Spawns `cmd` in a new process group with stdout and stderr to `log`.
    pub fn spawn(name: &str, mut cmd: Command, log: PathBuf) -> ServerGuard {
        let out = std::fs::File::create(&log).expect("create log");
        let err = out.try_clone().expect("clone log");
        cmd.stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        ServerGuard {
            child,
            name: name.to_string(),
            log,
            after_stop: Vec::new(),
        }
    }

    /// Spawns `cmd`, whose stdin and stdout the caller has set to pipes, in a new process
    /// group with stderr to `log`.
    pub fn spawn_piped(name: &str, mut cmd: Command, log: PathBuf) -> ServerGuard {
        let err = std::fs::File::create(&log).expect("create log");
        cmd.stderr(err).process_group(0);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        ServerGuard {
            child,
            name: name.to_string(),
            log,
            after_stop: Vec::new(),
        }
    }

    /// Runs `cmd` (quietly, ignoring its status) once the server has stopped.
    pub fn after_stop(&mut self, cmd: Command) {
        self.after_stop.push(cmd);
    }

    /// The child's stdin pipe (once).
    pub fn take_stdin(&mut self) -> std::process::ChildStdin {
        self.child.stdin.take().expect("stdin piped")
    }

    /// The child's stdout pipe (once).
    pub fn take_stdout(&mut self) -> std::process::ChildStdout {
        self.child.stdout.take().expect("stdout piped")
    }

    /// The server's output so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panics with the log if the server has already exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "{} exited early ({status}); its output:\n{}",
                self.name,
                self.log()
            );
        }
    }

    fn signal_group(&self, sig: nix::sys::signal::Signal) {
        let pgid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::killpg(pgid, sig);
    }
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        self.stop();
        for cmd in &mut self.after_stop {
            let _ = cmd.stdout(Stdio::null()).stderr(Stdio::null()).status();
        }
    }
}

impl ServerGuard {
    fn stop(&mut self) {
        self.signal_group(nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                // The leader is gone; make sure helpers in its group are too.
                self.signal_group(nix::sys::signal::Signal::SIGKILL);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.signal_group(nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// Calls `f` every 100 ms until it returns `Some` or `limit` passes.
pub fn wait_for<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A chronyd server for one test: NTP and NTS-KE on free loopback ports, `-x` (it never
/// touches the clock), `local stratum 1`, a certificate from [`test_pki`], its files in a
/// temporary directory, stopped when dropped.
pub struct Chrony {
    /// Its NTP address.
    pub ntp: std::net::SocketAddr,
    /// Its NTS-KE port on 127.0.0.1.
    pub ke_port: u16,
    /// The CA that signed its certificate.
    pub ca: PathBuf,
    /// The process.
    pub server: ServerGuard,
    _dir: TempDir,
}

impl Chrony {
    /// Starts chronyd; fails the test loudly when it is not installed.
    pub fn start() -> Chrony {
        let chronyd = require_binary("chronyd", "chrony");
        let dir = TempDir::new("ppsd-ref-chrony");
        let pki = test_pki(dir.path(), "nts");
        let ntp_port = free_udp_port();
        let ke_port = free_tcp_port();
        let d = dir.path().display();
        let conf = format!(
            "port {ntp_port}\nbindaddress 127.0.0.1\nallow 127.0.0.1\nlocal stratum 1\n\
             ntsport {ke_port}\nntsprocesses 0\nntsserverkey {key}\nntsservercert {cert}\n\
             cmdport 0\nbindcmdaddress /\npidfile {d}/chronyd.pid\n",
            key = pki.key.display(),
            cert = pki.cert.display(),
        );
        let conf_path = dir.path().join("chrony.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let mut cmd = Command::new(chronyd);
        cmd.args(["-x", "-4", "-d", "-f"]).arg(&conf_path);
        let server = ServerGuard::spawn("chronyd", cmd, dir.path().join("chronyd.log"));
        Chrony {
            ntp: std::net::SocketAddr::from(([127, 0, 0, 1], ntp_port)),
            ke_port,
            ca: pki.ca,
            server,
            _dir: dir,
        }
    }
}
