//! Where grain state is kept while a grain is not active: a small trait, and SQLite behind it.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Why grain state could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
#[error("grain storage: {0}")]
pub struct StorageError(pub String);

/// Grain state by grain kind and id. Silos share one storage, so that a grain is activated
/// again from its last saved state on whichever silo the master picks.
pub trait Storage: Send + Sync + 'static {
    /// The last state saved for grain `id` of kind `kind`, if any.
    fn load(&self, kind: &str, id: &str) -> Result<Option<Vec<u8>>, StorageError>;
    /// Saves `state` as grain `id`'s, durably: a silo that dies afterwards loses none of it.
    fn save(&self, kind: &str, id: &str, state: &[u8]) -> Result<(), StorageError>;
}

/// Grain state in an SQLite database file (bundled SQLite, write-ahead log): silos on one
/// machine, or on machines sharing the file system the database is on, share it.
pub struct Sqlite {
    connection: Mutex<rusqlite::Connection>,
}

impl Sqlite {
    /// Opens (or creates) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        let failed = |error: rusqlite::Error| StorageError(format!("{}: {error}", path.display()));
        let connection = rusqlite::Connection::open(path).map_err(failed)?;
        // Several silos write the same file: wait for each other's transactions rather than fail.
        connection.busy_timeout(Duration::from_secs(10)).map_err(failed)?;
        connection.pragma_update(None, "journal_mode", "WAL").map_err(failed)?;
        connection.pragma_update(None, "synchronous", "NORMAL").map_err(failed)?;
        connection
            .execute(
                "CREATE TABLE IF NOT EXISTS grains (kind TEXT NOT NULL, id TEXT NOT NULL, state BLOB NOT NULL, \
                 PRIMARY KEY (kind, id))",
                [],
            )
            .map_err(failed)?;
        Ok(Sqlite { connection: Mutex::new(connection) })
    }

    fn connection(&self) -> std::sync::MutexGuard<'_, rusqlite::Connection> {
        self.connection.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Storage for Sqlite {
    fn load(&self, kind: &str, id: &str) -> Result<Option<Vec<u8>>, StorageError> {
        use rusqlite::OptionalExtension;
        self.connection()
            .query_row("SELECT state FROM grains WHERE kind = ?1 AND id = ?2", (kind, id), |row| row.get(0))
            .optional()
            .map_err(|error| StorageError(error.to_string()))
    }

    fn save(&self, kind: &str, id: &str, state: &[u8]) -> Result<(), StorageError> {
        self.connection()
            .execute(
                "INSERT INTO grains (kind, id, state) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (kind, id) DO UPDATE SET state = excluded.state",
                (kind, id, state),
            )
            .map(drop)
            .map_err(|error| StorageError(error.to_string()))
    }
}

/// Grain state in memory, for tests of one process: nothing survives the process.
#[derive(Default)]
pub struct InMemory {
    states: Mutex<HashMap<(String, String), Vec<u8>>>,
}

impl Storage for InMemory {
    fn load(&self, kind: &str, id: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let states = self.states.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(states.get(&(kind.to_owned(), id.to_owned())).cloned())
    }

    fn save(&self, kind: &str, id: &str, state: &[u8]) -> Result<(), StorageError> {
        let mut states = self.states.lock().unwrap_or_else(PoisonError::into_inner);
        states.insert((kind.to_owned(), id.to_owned()), state.to_vec());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_keeps_the_last_state_of_each_grain_across_connections() {
        let path = std::env::temp_dir().join(format!("orleans-storage-{}.db", std::process::id()));
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        let first = Sqlite::open(&path).unwrap();
        assert_eq!(first.load("counter", "a").unwrap(), None);
        first.save("counter", "a", b"1").unwrap();
        first.save("counter", "a", b"2").unwrap();
        first.save("greeter", "a", b"g").unwrap();
        let second = Sqlite::open(&path).unwrap();
        assert_eq!(second.load("counter", "a").unwrap().as_deref(), Some(&b"2"[..]));
        assert_eq!(second.load("greeter", "a").unwrap().as_deref(), Some(&b"g"[..]));
        drop((first, second));
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
}
