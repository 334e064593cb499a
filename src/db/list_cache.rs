//! The ordered keys of a list query (e.g. "locations visible to NL/ABC between two dates"),
//! kept in memory so that a page at any offset costs one primary-key fetch, and
//! `X-Total-Count` no count query.
//!
//! An entry is valid while no write to its table happened in this process (a generation counter
//! bumped by every write) and for at most `ttl` (writes by other hub instances on the same
//! database show within that time). `ttl` zero turns the cache off.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;

/// Sort keys in list order: `(last_updated, key)`.
pub type Keys = Arc<Vec<(NaiveDateTime, String)>>;

struct Entry {
    generation: u64,
    built: Instant,
    keys: Keys,
}

pub struct ListCache {
    generation: AtomicU64,
    ttl: Duration,
    max_entries: usize,
    entries: Mutex<HashMap<String, Entry>>,
    /// One load at a time: concurrent misses wait for it instead of all scanning the table.
    loading: Arc<tokio::sync::Mutex<()>>,
}

impl ListCache {
    pub fn new(ttl: Duration, max_entries: usize) -> Self {
        Self {
            generation: AtomicU64::new(0),
            ttl,
            max_entries,
            entries: Mutex::new(HashMap::new()),
            loading: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// The cached keys of `id`, or `load`ed (once, however many callers miss together). An
    /// entry that only aged past `ttl` (no write in this process since) is served while one
    /// background task reloads it, so readers never queue behind the periodic reload.
    pub async fn get_or_load<F, Fut, E>(self: &Arc<Self>, id: String, load: F) -> Result<Keys, E>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Result<Vec<(NaiveDateTime, String)>, E>> + Send + 'static,
        E: Send + 'static,
    {
        if let Some(k) = self.get(&id) {
            return Ok(k);
        }
        if let Some(stale) = self.aged(&id) {
            if let Ok(guard) = self.loading.clone().try_lock_owned() {
                let this = self.clone();
                let generation = self.generation();
                tokio::spawn(async move {
                    if let Ok(keys) = load().await {
                        this.put(id, generation, keys);
                    }
                    drop(guard);
                });
            }
            return Ok(stale);
        }
        let _one = self.loading.lock().await;
        if let Some(k) = self.get(&id) {
            return Ok(k);
        }
        let generation = self.generation();
        let keys = load().await?;
        Ok(self.put(id, generation, keys))
    }

    /// An entry of the current generation, however old.
    fn aged(&self, id: &str) -> Option<Keys> {
        self.entry(id, false)
    }

    /// The entry of `id` if it belongs to the current generation (and, with `fresh`, is younger
    /// than `ttl`).
    fn entry(&self, id: &str, fresh: bool) -> Option<Keys> {
        if self.ttl.is_zero() {
            return None;
        }
        let now_gen = self.generation();
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(id)
            .filter(|e| e.generation == now_gen && (!fresh || e.built.elapsed() < self.ttl))
            .map(|e| e.keys.clone())
    }

    /// Read before loading keys; pass to [`ListCache::put`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Every write to a cached table calls this (after its commit).
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    pub fn get(&self, id: &str) -> Option<Keys> {
        self.entry(id, true)
    }

    pub fn put(&self, id: String, generation: u64, keys: Vec<(NaiveDateTime, String)>) -> Keys {
        let keys = Arc::new(keys);
        if self.ttl.is_zero() {
            return keys;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= self.max_entries {
            // Drop what is stale, then the oldest.
            let now_gen = self.generation();
            entries.retain(|_, e| e.generation == now_gen && e.built.elapsed() < self.ttl);
            if entries.len() >= self.max_entries
                && let Some(oldest) = entries
                    .iter()
                    .min_by_key(|(_, e)| e.built)
                    .map(|(k, _)| k.clone())
            {
                entries.remove(&oldest);
            }
        }
        entries.insert(
            id,
            Entry {
                generation,
                built: Instant::now(),
                keys: keys.clone(),
            },
        );
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> Vec<(NaiveDateTime, String)> {
        vec![(chrono::DateTime::UNIX_EPOCH.naive_utc(), s.to_string())]
    }

    #[test]
    fn writes_and_age_invalidate() {
        let c = ListCache::new(Duration::from_secs(60), 2);
        let g = c.generation();
        c.put("a".into(), g, k("1"));
        assert_eq!(c.get("a").unwrap()[0].1, "1");
        c.invalidate();
        assert!(c.get("a").is_none());
        // Loaded before a write that landed meanwhile: never served.
        let g = c.generation();
        c.invalidate();
        c.put("b".into(), g, k("2"));
        assert!(c.get("b").is_none());
        let off = ListCache::new(Duration::ZERO, 2);
        off.put("a".into(), off.generation(), k("1"));
        assert!(off.get("a").is_none());
        let short = ListCache::new(Duration::from_millis(1), 2);
        short.put("a".into(), short.generation(), k("1"));
        std::thread::sleep(Duration::from_millis(5));
        assert!(short.get("a").is_none());
    }

    #[tokio::test]
    async fn aged_entries_are_served_while_one_reload_runs() {
        let c = Arc::new(ListCache::new(Duration::from_millis(1), 4));
        let loads = Arc::new(AtomicU64::new(0));
        let load = |v: &'static str, n: Arc<AtomicU64>| {
            move || async move {
                n.fetch_add(1, Ordering::SeqCst);
                Ok::<_, ()>(k(v))
            }
        };
        let first = c
            .get_or_load("a".into(), load("old", loads.clone()))
            .await
            .unwrap();
        assert_eq!(first[0].1, "old");
        std::thread::sleep(Duration::from_millis(5));
        // Aged: the old keys come back at once; the reload happens in the background.
        let again = c
            .get_or_load("a".into(), load("new", loads.clone()))
            .await
            .unwrap();
        assert_eq!(again[0].1, "old");
        for _ in 0..100 {
            if c.aged("a").is_some_and(|k| k[0].1 == "new") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(c.aged("a").unwrap()[0].1, "new");
        // A write in this process: the next reader waits for fresh keys.
        c.invalidate();
        let fresh = c
            .get_or_load("a".into(), load("newest", loads.clone()))
            .await
            .unwrap();
        assert_eq!(fresh[0].1, "newest");
        assert_eq!(loads.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn bounded() {
        let c = ListCache::new(Duration::from_secs(60), 2);
        for i in 0..5 {
            c.put(format!("e{i}"), c.generation(), k("x"));
        }
        assert!(c.entries.lock().unwrap().len() <= 2);
        assert!(c.get("e4").is_some());
    }
}
