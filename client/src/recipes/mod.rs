//! Coordination recipes built on the client's operations, with ZooKeeper's
//! well-known algorithms (and Curator's and etcd's names for them): a
//! [`Lock`], a read-write [`RwLock`], a counting [`Semaphore`], a leader
//! [`Election`], [`Group`] membership (service registration and discovery),
//! and a FIFO [`Queue`].
//!
//! ```text
//!  /locks/db ─ c<session><n>-0000000007  ◄─ holds the lock (lowest)
//!            ├ c<session><n>-0000000008  ◄─ watches ...07 only
//!            └ c<session><n>-0000000009  ◄─ watches ...08 only
//! ```
//!
//! Each recipe lives in a directory of its own (created with its ancestors
//! on first use) and is safe to use from many sessions at once:
//!
//! - Locks and elections queue their contenders as ephemeral-sequential
//!   nodes. The lowest holds; every other contender watches only the one just
//!   before it, so a release wakes one client, not the herd. A contender's
//!   name starts with a token unique to it, so a create cut by a connection
//!   loss finds its node instead of queueing twice. A read lock of an
//!   [`RwLock`] waits only for the last writer before it, so readers hold
//!   together.
//! - What a session holds (a lock, a leadership, a membership) is an
//!   ephemeral node: it ends when the session does. `lost()` resolves then,
//!   and the holder's creation zxid is a fencing token that grows with every
//!   holder. Dropping a guard, or cancelling a wait, deletes its node from a
//!   background task.
//! - Observers ([`LeaderObserver`], [`GroupWatch`]) ride on one persistent
//!   recursive watch and re-read on each change; an overflowed watch is set
//!   again and the state read afresh.
//!
//! # Example
//!
//! ```no_run
//! use corral_client::recipes::{Election, Lock};
//! use corral_client::{Client, ClientConfig};
//!
//! # async fn run() -> Result<(), corral_client::Error> {
//! let client = Client::connect(ClientConfig::from_env()?).await?;
//!
//! let lock = Lock::new(&client, "/locks/db-migration")?;
//! let guard = lock.acquire().await?;
//! println!("holding {} with fencing token {}", guard.path(), guard.fencing_token());
//! guard.release().await?;
//!
//! let election = Election::new(&client, "/elections/scheduler")?;
//! let leadership = election.campaign(b"host-a:7000").await?;
//! tokio::select! {
//!     why = leadership.lost() => eprintln!("no longer leader: {why}"),
//!     _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => leadership.resign().await?,
//! }
//! # Ok(())
//! # }
//! ```
mod contender;
mod directory;
mod election;
mod follow;
mod group;
mod held_node;
mod lock;
mod queue;
mod rw_lock;
mod semaphore;
mod sequence;

pub use election::{Election, Leader, LeaderObserver, Leadership};
pub use group::{Group, GroupWatch, Member, Membership};
pub use lock::{Lock, LockGuard};
pub use queue::{Item, Queue};
pub use rw_lock::RwLock;
pub use semaphore::{Lease, Semaphore};
