//! Session lifecycle and housekeeping entries: create, touch, add identity, close,
//! expire, and reaping containers and TTL nodes.
//!
//! The leader decides *when* (it proposes [`Command`](super::Command)s from
//! `expired_sessions`, `containers_to_reap` and `ttl_to_reap`), but apply re-checks every
//! condition at the entry's own time, so a proposal made stale by a later write (a
//! touch, a new child, a setData) changes nothing.

use imbl::OrdSet;

use super::acl::{Id, SCHEME_DIGEST};
use super::data_tree::{DataTree, err};
use super::error::{ErrorCode, ZkError};
use super::response::Response;
use super::session::{Session, SessionId, SessionSecret};
use super::write_ops::{Change, Stamp};

/// Session ids at or above this would collide with ZooKeeper's extended ephemeral owners.
const SESSION_ID_END: i64 = 0x0080_0000_0000_0000;

impl DataTree {
    /// Opens a session whose id is the entry's zxid.
    pub(crate) fn create_session(
        &mut self,
        at: Stamp,
        timeout_ms: i64,
        secret: SessionSecret,
        identities: &[Id],
    ) -> Result<Response, ZkError> {
        let id = at.zxid;
        let subject = format!("session 0x{id:x}");
        if !(1..=self.limits.session_timeout_ms_max).contains(&timeout_ms)
            || identities.len() > self.limits.session_identities_max
        {
            return Err(err(ErrorCode::BadArguments, &subject));
        }
        if !(1..SESSION_ID_END).contains(&id) || self.sessions.contains_key(&id) {
            return Err(err(ErrorCode::SystemError, &subject));
        }
        let session = Session {
            id,
            timeout_ms,
            secret,
            identities: identities.into(),
            last_seen_ms: at.time_ms,
            ephemerals: OrdSet::new(),
        };
        self.sessions.insert(id, session);
        Ok(Response::SessionCreated {
            session: id,
            timeout_ms,
            secret,
        })
    }

    /// Marks sessions as heard from at the entry's time; unknown ones are skipped.
    pub(crate) fn touch_sessions(&mut self, at: Stamp, sessions: &[SessionId]) -> Response {
        let mut touched = Vec::new();
        for id in sessions {
            if let Some(s) = self.sessions.get_mut(id) {
                s.last_seen_ms = s.last_seen_ms.max(at.time_ms);
                touched.push(*id);
            }
        }
        Response::Housekeeping {
            sessions: touched,
            paths: Vec::new(),
        }
    }

    /// ZooKeeper's addAuth for the digest scheme: `user:password` becomes a digest identity.
    pub(crate) fn add_auth(
        &mut self,
        session: SessionId,
        scheme: &str,
        auth: &[u8],
    ) -> Result<Response, ZkError> {
        let subject = format!("session 0x{session:x}");
        let text = std::str::from_utf8(auth).map_err(|_| err(ErrorCode::AuthFailed, &subject))?;
        if scheme != SCHEME_DIGEST {
            return Err(err(ErrorCode::AuthFailed, &subject));
        }
        let max = self.limits.session_identities_max;
        let s = self
            .sessions
            .get_mut(&session)
            .ok_or_else(|| err(ErrorCode::SessionExpired, &subject))?;
        let id = Id::digest(text);
        if !s.identities.contains(&id) {
            if s.identities.len() >= max {
                return Err(err(ErrorCode::BadArguments, &subject));
            }
            s.identities = s.identities.iter().cloned().chain([id]).collect();
        }
        Ok(Response::AddAuth)
    }

    /// Ends a session: deletes its ephemerals (in path order, each with its events) and
    /// removes it. Returns whether it existed.
    pub(crate) fn close_session(
        &mut self,
        id: SessionId,
        zxid: i64,
        changes: &mut Vec<Change>,
    ) -> bool {
        let Some(session) = self.sessions.get(&id) else {
            return false;
        };
        let ephemerals: Vec<String> = session.ephemerals.iter().cloned().collect();
        for path in ephemerals {
            self.delete_unchecked(&path, zxid, changes);
        }
        self.sessions.remove(&id);
        changes.push(Change::SessionClosed(id));
        true
    }

    /// Expires the sessions that are still expired at the entry's time.
    pub(crate) fn expire_sessions(
        &mut self,
        at: Stamp,
        sessions: &[SessionId],
        changes: &mut Vec<Change>,
    ) -> Response {
        let mut expired = Vec::new();
        for id in sessions {
            let still = self
                .sessions
                .get(id)
                .is_some_and(|s| s.is_expired(at.time_ms));
            if still && self.close_session(*id, at.zxid, changes) {
                expired.push(*id);
            }
        }
        Response::Housekeeping {
            sessions: expired,
            paths: Vec::new(),
        }
    }

    /// Deletes the containers that are still reapable.
    pub(crate) fn reap_containers(
        &mut self,
        at: Stamp,
        paths: &[String],
        changes: &mut Vec<Change>,
    ) -> Response {
        self.reap_where(at, paths, changes, Self::container_is_reapable)
    }

    /// Deletes the TTL nodes that are still expired.
    pub(crate) fn reap_ttl(
        &mut self,
        at: Stamp,
        paths: &[String],
        changes: &mut Vec<Change>,
    ) -> Response {
        self.reap_where(at, paths, changes, Self::ttl_is_reapable)
    }

    /// Deletes each of `paths` for which `reapable(path, now)` still holds at
    /// apply time, so a stale housekeeping proposal changes nothing.
    fn reap_where(
        &mut self,
        at: Stamp,
        paths: &[String],
        changes: &mut Vec<Change>,
        reapable: fn(&Self, &str, i64) -> bool,
    ) -> Response {
        let mut reaped = Vec::new();
        for p in paths {
            if reapable(self, p, at.time_ms) {
                self.delete_unchecked(p, at.zxid, changes);
                reaped.push(p.clone());
            }
        }
        Response::Housekeeping {
            sessions: Vec::new(),
            paths: reaped,
        }
    }
}
