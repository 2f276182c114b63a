//! Hosts of the test's own: one Linux network namespace per host, each
//! with an address of its own on a bridge in the test's namespace, and a
//! TCP relay on the bridge for every link between roles that puts the
//! network's delay (and, where `nft` is missing, its loss) on that link.
//!
//! Loss is real where it can be: an `nft` rule in every host drops that
//! share of the packets it receives and sends, so TCP retransmits as on a
//! bad network. This kernel has no `tc netem`, so the delay is the relay's:
//! every chunk waits `delay` in each direction before it is passed on.
//! Without `nft`, the relay holds a chunk for a retransmission time (200 ms,
//! Linux's least) with the loss's probability instead, which is what a
//! lost segment costs the application.
//!
//! Everything made here (namespaces, bridge, veth pairs, relays, the roles
//! started on the hosts) is removed when the [`Red`] is dropped, and
//! leftovers of a test process that died are removed by the next one.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::{sleep_until, timeout, Instant};

use super::procesos::RoleProcess;

/// The retransmission time a lost segment costs at least (Linux's
/// `TCP_RTO_MIN`).
const RETRANSMISSION: Duration = Duration::from_millis(200);

/// How the links between hosts behave.
#[derive(Debug, Clone, Copy)]
pub struct Conditions {
    /// Added to every chunk in each direction.
    pub delay: Duration,
    /// Share of packets lost, from 0 to 1.
    pub loss: f64,
}

/// One host: a namespace with one address on the bridge.
#[derive(Debug)]
pub struct Host {
    /// What the test calls it (`tareo-1`); also its host name.
    pub name: String,
    pub netns: String,
    pub addr: Ipv4Addr,
    /// This host's end of the cable, on the bridge's side: down means the
    /// host is cut off.
    cable: String,
}

/// Hosts on one bridge, and the relays between them.
pub struct Red {
    bridge: String,
    /// The bridge's own address: the relays listen on it.
    pub gateway: Ipv4Addr,
    hosts: Vec<Host>,
    conditions: Conditions,
    /// Loss is put in by `nft` on the hosts, not by the relays.
    loss_by_nft: bool,
    relays: JoinSet<()>,
}

/// Runs `program args`, panicking with its output when it fails.
fn run(program: &str, args: &[&str]) {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|err| panic!("{program} {args:?}: {err}"));
    assert!(
        output.status.success(),
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs `program args` and ignores how it went (cleanup of what may not be
/// there).
fn run_quietly(program: &str, args: &[&str]) {
    let _ = Command::new(program).args(args).output();
}

/// True where this process may make namespaces: root on Linux with `ip`.
/// Otherwise prints why the test is skipped and returns false.
pub fn namespaces_allowed(test: &str) -> bool {
    if !super::herramientas::is_root() {
        eprintln!("omitido: {test}: crear espacios de red (ip netns) necesita ser root");
        return false;
    }
    if Command::new("ip").arg("-V").output().is_err() {
        panic!("{test}: falta `ip` (iproute2) y esta prueba corre como root; scripts/test.sh lo instala");
    }
    true
}

/// The test process that made a namespace or link named `aula-<pid>-...`
/// or `ab-<pid>-...`/`av-<pid>-...`, if it still runs.
fn owner_alive(name: &str) -> bool {
    let pid = name
        .split('-')
        .nth(1)
        .and_then(|pid| pid.parse::<u32>().ok());
    pid.is_none_or(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists())
}

/// Removes the namespaces and bridges of test processes that died before
/// they could.
fn remove_leftovers() {
    let list = |args: &[&str]| {
        Command::new("ip")
            .args(args)
            .output()
            .map(|out| String::from_utf8_lossy(&out.stdout).into_owned())
            .unwrap_or_default()
    };
    for line in list(&["netns", "list"]).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        if name.starts_with("aula-") && !owner_alive(name) {
            run_quietly("ip", &["netns", "del", name]);
        }
    }
    for line in list(&["-o", "link", "show", "type", "bridge"]).lines() {
        let name = line.split(':').nth(1).unwrap_or("").trim();
        if name.starts_with("ab-") && !owner_alive(name) {
            run_quietly("ip", &["link", "del", name]);
        }
    }
}

impl Red {
    /// Hosts named `names`, on links with `conditions`.
    pub fn new(names: &[&str], conditions: Conditions) -> Red {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let pid = std::process::id();
        let net = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(net < 10 && names.len() < 10, "names kept short for Linux");
        remove_leftovers();
        // 10.(200+net).(pid mod 250).0/24: apart from the test processes
        // that may run beside this one.
        let subnet = [10, 200 + net as u8, (pid % 250) as u8];
        let gateway = Ipv4Addr::new(subnet[0], subnet[1], subnet[2], 1);
        let bridge = format!("ab-{pid}-{net}");
        let mut red = Red {
            bridge: bridge.clone(),
            gateway,
            hosts: Vec::new(),
            conditions,
            loss_by_nft: conditions.loss > 0.0 && super::herramientas::find("nft").is_some(),
            relays: JoinSet::new(),
        };
        run("ip", &["link", "add", &bridge, "type", "bridge"]);
        run(
            "ip",
            &["addr", "add", &format!("{gateway}/24"), "dev", &bridge],
        );
        run("ip", &["link", "set", &bridge, "up"]);
        for (i, name) in names.iter().enumerate() {
            let netns = format!("aula-{pid}-{net}-{name}");
            let cable = format!("av-{pid}-{net}{i}");
            let addr = Ipv4Addr::new(subnet[0], subnet[1], subnet[2], 10 + i as u8);
            run("ip", &["netns", "add", &netns]);
            // Pushed before the links exist, so that a failure below still
            // removes the namespace.
            red.hosts.push(Host {
                name: (*name).to_owned(),
                netns: netns.clone(),
                addr,
                cable: cable.clone(),
            });
            run(
                "ip",
                &[
                    "link", "add", &cable, "type", "veth", "peer", "name", "eth0", "netns", &netns,
                ],
            );
            run("ip", &["link", "set", &cable, "master", &bridge, "up"]);
            let inside = |args: &[&str]| {
                let mut all = vec!["-n", &netns];
                all.extend_from_slice(args);
                run("ip", &all);
            };
            inside(&["addr", "add", &format!("{addr}/24"), "dev", "eth0"]);
            inside(&["link", "set", "eth0", "up"]);
            inside(&["link", "set", "lo", "up"]);
            inside(&["route", "add", "default", "via", &gateway.to_string()]);
            if red.loss_by_nft {
                red.drop_packets(&netns, conditions.loss);
            }
        }
        eprintln!(
            "red de prueba: {} máquinas en {gateway}/24, retardo {:?} por sentido, pérdida {:.1}% ({})",
            names.len(),
            conditions.delay,
            conditions.loss * 100.0,
            match (conditions.loss > 0.0, red.loss_by_nft) {
                (false, _) => "sin pérdida",
                (true, true) => "paquetes descartados por nft",
                (true, false) => "nft no está: retransmisiones simuladas por el relé",
            }
        );
        red
    }

    /// An `nft` rule in `netns` that drops `loss` of the packets it
    /// receives and of those it sends.
    fn drop_packets(&self, netns: &str, loss: f64) {
        let per_million = (loss * 1_000_000.0).round() as u32;
        let rules = format!(
            "table inet perdida {{\n\
             chain entrada {{ type filter hook input priority 0; numgen random mod 1000000 < {per_million} drop; }}\n\
             chain salida {{ type filter hook output priority 0; numgen random mod 1000000 < {per_million} drop; }}\n\
             }}\n"
        );
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), rules).unwrap();
        run(
            "ip",
            &[
                "netns",
                "exec",
                netns,
                "nft",
                "-f",
                &file.path().display().to_string(),
            ],
        );
    }

    pub fn host(&self, name: &str) -> &Host {
        self.hosts
            .iter()
            .find(|host| host.name == name)
            .unwrap_or_else(|| panic!("no host {name}"))
    }

    /// Cuts `host` off the network (its cable down), as a switch port
    /// failing would.
    pub fn cut(&self, name: &str) {
        run("ip", &["link", "set", &self.host(name).cable, "down"]);
    }

    /// Puts `host` back on the network.
    pub fn restore(&self, name: &str) {
        run("ip", &["link", "set", &self.host(name).cable, "up"]);
    }

    /// A relay on the bridge to `target` with the network's conditions:
    /// the address the other hosts use to reach it.
    pub async fn link_to(&mut self, target: SocketAddr) -> SocketAddr {
        let listener = TcpListener::bind((self.gateway, 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let held = if self.loss_by_nft {
            0.0
        } else {
            self.conditions.loss
        };
        let delay = self.conditions.delay;
        self.relays.spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((client, _)) = accepted else { continue };
                        connections.spawn(relay(client, target, delay, held));
                    }
                    Some(_) = connections.join_next() => {}
                }
            }
        });
        addr
    }

    /// Starts `role` on host `name` with `args`, as that host: its own
    /// network and its own host name.
    pub fn spawn(&self, name: &str, role: &str, args: &[String], filter: &str) -> RoleProcess {
        let host = self.host(name);
        // `ip netns exec` and `unshare` (without --fork) exec the next
        // program, so the role keeps the child's pid and gets its signals.
        let wrapper: Vec<String> = [
            "ip",
            "netns",
            "exec",
            &host.netns,
            "unshare",
            "--uts",
            "sh",
            "-c",
            &format!("hostname {} && exec \"$@\"", host.name),
            "sh",
        ]
        .iter()
        .map(|part| (*part).to_owned())
        .collect();
        RoleProcess::spawn_wrapped(role, &wrapper, args, filter, &[])
    }
}

impl Drop for Red {
    fn drop(&mut self) {
        self.relays.abort_all();
        for host in &self.hosts {
            // Deleting the namespace deletes its end of the cable, and
            // with it the bridge's end.
            run_quietly("ip", &["netns", "del", &host.netns]);
        }
        run_quietly("ip", &["link", "del", &self.bridge]);
    }
}

/// One connection through a relay: to `target`, with `delay` on every
/// chunk both ways and `held` of the chunks held for a retransmission.
async fn relay(client: TcpStream, target: SocketAddr, delay: Duration, held: f64) {
    // A host that is cut off never answers: give up as a connect would.
    let Ok(Ok(server)) = timeout(Duration::from_secs(3), TcpStream::connect(target)).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    tokio::join!(
        one_way(client_read, server_write, delay, held),
        one_way(server_read, client_write, delay, held),
    );
}

/// Copies `from` to `to`, each chunk `delay` later (and some held longer),
/// in order; at most 256 chunks in the air, so a slow reader slows the
/// writer as TCP would.
async fn one_way(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
    held: f64,
) {
    let (chunks, mut due) = mpsc::channel::<(Instant, Bytes)>(256);
    let reader = async move {
        let mut buffer = vec![0u8; 16 * 1024];
        let mut last = Instant::now();
        loop {
            let read = match from.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(read) => read,
            };
            let mut at = Instant::now() + delay;
            if held > 0.0 && rand::random::<f64>() < held {
                at += RETRANSMISSION;
            }
            // Never before the chunk ahead of it: TCP keeps the order.
            last = at.max(last);
            if chunks
                .send((last, Bytes::copy_from_slice(&buffer[..read])))
                .await
                .is_err()
            {
                break;
            }
        }
    };
    let writer = async move {
        while let Some((at, chunk)) = due.recv().await {
            sleep_until(at).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}
