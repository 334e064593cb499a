//! CPU accounting of the benches' processes, from `/proc` (Linux).

/// User + system CPU seconds of process `pid` (0: this process).
pub fn cpu_secs(pid: u32) -> f64 {
    let path = if pid == 0 {
        "/proc/self/stat".to_string()
    } else {
        format!("/proc/{pid}/stat")
    };
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// The postmaster serving `port` on this machine (0 when not found, e.g. a remote server).
pub fn postmaster_pid(port: u16) -> u32 {
    let flag = format!("-p\0{port}\0");
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd);
        if cmd.contains("bin/postgres\0") && cmd.contains(&flag) {
            return pid;
        }
    }
    0
}

/// CPU seconds of the PostgreSQL server `postmaster` and its live children (backends come and
/// go, but the hub's pool keeps its connections for the whole run).
pub fn postgres_cpu_secs(postmaster: u32) -> f64 {
    if postmaster == 0 {
        return f64::NAN;
    }
    let mut total = cpu_secs(postmaster);
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                continue;
            };
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let ppid = stat
                .rsplit(')')
                .next()
                .and_then(|a| a.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if ppid == Some(postmaster) {
                total += cpu_secs(pid);
            }
        }
    }
    total
}

/// The postmaster of the PostgreSQL server at `url` when it runs on this machine (0: not found).
pub fn postmaster_of(url: &str) -> u32 {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.port())
        .map(postmaster_pid)
        .unwrap_or(0)
}
