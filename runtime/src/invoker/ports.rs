//! Ports for `@local` containers: a free one to hand out in `PORT`, and, once something
//! answers on it, whether that is the container. A port is free when it is picked and taken by
//! the container a moment later; another process can take it in between, and the container
//! then fails to bind while the runtime's readiness probe reaches the other process. On Linux
//! the owner of a listening socket can be read from `/proc`, and a port taken by a stranger is
//! noticed before any call goes there.

use std::collections::{HashMap, HashSet};
use std::path::Path;

/// A port nothing listens on right now, or `None` if none can be had.
pub fn free_port() -> Option<u16> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()
        .map(|a| a.port())
}

/// Whether the TCP socket listening on `port` belongs to the process `pid` or one of its
/// descendants. `None` where this cannot be told: not Linux, `/proc` unreadable, no
/// listening socket found on the port (it may have closed since), or a process of the
/// family whose descriptors cannot be read.
pub fn listener_owned_by(pid: u32, port: u16) -> Option<bool> {
    listener_owned_by_in(Path::new("/proc"), pid, port)
}

fn listener_owned_by_in(proc: &Path, pid: u32, port: u16) -> Option<bool> {
    let mut inodes = HashSet::new();
    for table in ["net/tcp", "net/tcp6"] {
        if let Ok(text) = std::fs::read_to_string(proc.join(table)) {
            inodes.extend(listening_inodes(&text, port));
        }
    }
    if inodes.is_empty() {
        return None;
    }
    let family = descendants(proc, pid);
    let mut unreadable = false;
    for p in family {
        let Ok(fds) = std::fs::read_dir(proc.join(p.to_string()).join("fd")) else {
            unreadable = true;
            continue;
        };
        let owns = fds.flatten().any(|fd| {
            std::fs::read_link(fd.path())
                .ok()
                .and_then(|target| socket_inode(&target.to_string_lossy()))
                .is_some_and(|inode| inodes.contains(&inode))
        });
        if owns {
            return Some(true);
        }
    }
    // A process whose descriptors cannot be read (another user's) might own it.
    (!unreadable).then_some(false)
}

/// The inodes of the sockets in LISTEN state on `port` in a `/proc/net/tcp` table.
fn listening_inodes(table: &str, port: u16) -> Vec<u64> {
    const LISTEN: &str = "0A";
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let local = cols.get(1)?;
            let state = cols.get(3)?;
            let inode = cols.get(9)?;
            let (_, hex_port) = local.rsplit_once(':')?;
            let listening = *state == LISTEN && u16::from_str_radix(hex_port, 16).ok()? == port;
            listening.then(|| inode.parse().ok()).flatten()
        })
        .collect()
}

/// `socket:[12345]` -> 12345.
fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// `pid` and every process below it, from the parent ids in `/proc/*/stat`.
fn descendants(proc: &Path, pid: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(entries) = std::fs::read_dir(proc) {
        for entry in entries.flatten() {
            let Some(p) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let parent = std::fs::read_to_string(entry.path().join("stat"))
                .ok()
                .and_then(|stat| parent_of(&stat));
            if let Some(parent) = parent {
                children.entry(parent).or_default().push(p);
            }
        }
    }
    let mut family = vec![pid];
    let mut i = 0;
    while let Some(&p) = family.get(i) {
        family.extend(children.get(&p).into_iter().flatten());
        i += 1;
    }
    family
}

/// The parent id in a `/proc/PID/stat` line: the field after the state, which follows the
/// command name in parentheses (which may itself hold spaces and parentheses).
fn parent_of(stat: &str) -> Option<u32> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn reads_listening_sockets_and_parents_from_proc_text() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4444 1 0000000000000000 100 0 0 10 0";
        // Port 0x1F90 = 8080: only the listening one, not the connection on it.
        assert_eq!(listening_inodes(table, 8080), vec![4242]);
        assert_eq!(listening_inodes(table, 80), vec![4444]);
        assert!(listening_inodes(table, 81).is_empty());
        assert_eq!(socket_inode("socket:[4242]"), Some(4242));
        assert_eq!(socket_inode("/dev/null"), None);
        assert_eq!(parent_of("123 (python3 (x) y) S 77 123 123 0 -1"), Some(77));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn tells_a_child_that_listens_from_a_stranger() {
        // This process listens on one port; a child of it, on another.
        let mine = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let my_port = mine.local_addr().unwrap().port();
        let child_port = free_port().unwrap();
        let mut child = std::process::Command::new("python3")
            .args([
                "-c",
                "import socket,sys,time\ns=socket.socket()\ns.bind(('127.0.0.1',int(sys.argv[1])))\ns.listen()\nprint('up',flush=True)\ntime.sleep(60)",
                &child_port.to_string(),
            ])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(line.trim(), "up");
        let pid = child.id();
        assert_eq!(listener_owned_by(pid, child_port), Some(true));
        assert_eq!(listener_owned_by(std::process::id(), my_port), Some(true));
        // The parent's port is a stranger's to the child; the child's belongs to the
        // parent's family.
        assert_eq!(listener_owned_by(pid, my_port), Some(false));
        assert_eq!(
            listener_owned_by(std::process::id(), child_port),
            Some(true)
        );
        // A port nobody listens on: cannot be told.
        drop(mine);
        assert_eq!(listener_owned_by(pid, my_port), None);
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
