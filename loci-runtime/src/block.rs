//! Remote blocks: code written inline in one peer's code that runs on a remote of another.
//!
//! `#[multitier]` lifts each `remote!(ctx, capture(..), |tm: &Here<Q>| -> T { .. })` into a
//! placed function of `Q` whose arguments are the captures, and turns the invocation into a
//! [`Block`]: that function's remote access with the captures' values bound. The access forms
//! are those of a placed function, so a block has the same checks, errors, timeouts and
//! one-way form as a remote call.

use std::future::{Future, IntoFuture};
use std::time::Duration;

use crate::error::RemoteError;
use crate::here::{Access, All, Answer, Each, PerRemote, Selected};
use crate::placement::{
    Aggregate, AsLocal, BoxFuture, Captured, FunctionKind, NamedTie, OneTie, Peer, PlacedFunction, TieMultiplicity,
};
use crate::remote::Remote;

/// A remote block with its captures, written in code placed on `P`, to run on a remote of the
/// block's peer. Choose where: `.as_local()` (the one remote of a `Single` or `Optional` tie),
/// `.from(&remote)`, `.from_each(&remotes)` or `.from_all()`; then `.await` it, or `.tell()` to
/// run it one way.
#[must_use = "a remote block runs when you choose where (`.as_local()`, `.from(..)`, `.from_all()`) and await it"]
pub struct Block<'a, P, V, M> {
    access: Access<'a, P, V, FunctionKind, M>,
    captured: Captured,
}

impl<'a, P: Peer, V: PlacedFunction<Args = Captured>, M: TieMultiplicity> Block<'a, P, V, M> {
    /// Created by the code `#[multitier]` writes for `remote!`.
    #[doc(hidden)]
    pub fn __new(access: Access<'a, P, V, FunctionKind, M>, captured: Captured) -> Self {
        Block { access, captured }
    }

    /// Waits at most `timeout` for the block's result, overriding the instance's default.
    pub fn timeout(self, timeout: Duration) -> Self {
        Block { access: self.access.timeout(timeout), captured: self.captured }
    }

    /// Runs the block over one named tie only, e.g. `.over(backup)`: the block then has that
    /// tie's multiplicity, so `.as_local()` reaches the one remote of a `Single` or `Optional`
    /// tie even where `P` has other ties to the block's peer, and `.from_all()` reaches only
    /// that tie's remotes.
    pub fn over<T>(self, tie: impl FnOnce() -> T) -> Block<'a, P, V, T::Multiplicity>
    where
        T: NamedTie<P, To = V::Peer>,
    {
        Block { access: self.access.over(tie), captured: self.captured }
    }

    /// When no remote is connected on the tie, `.as_local()` and `.tell()` wait for one to
    /// connect within the block's timeout instead of failing at once with
    /// [`RemoteError::NotConnected`]; the timeout covers the wait and the run together.
    pub fn when_connected(self) -> Self {
        Block { access: self.access.when_connected(), captured: self.captured }
    }

    /// Runs the block on the one remote of a `Single` tie (yielding its result) or an
    /// `Optional` tie (yielding `None` when no remote is connected).
    pub fn as_local(self) -> Answer<'a, M::Out<V::Output>>
    where
        M: AsLocal<P, V::Peer> + OneTie<P, V::Peer>,
    {
        self.access.call(self.captured)
    }

    /// Runs the block one way on the one remote of a `Single` or `Optional` tie: nothing comes
    /// back. Fails only when it could not be queued.
    pub fn tell(self) -> Answer<'a, ()>
    where
        M: AsLocal<P, V::Peer> + OneTie<P, V::Peer>,
    {
        self.access.tell(self.captured)
    }

    /// Runs the block on one particular remote.
    pub fn from(self, remote: &Remote<V::Peer>) -> Bound<Selected<'a, P, V>> {
        Bound { target: self.access.from(remote), captured: self.captured }
    }

    /// Runs the block on several particular remotes at once; one result per remote, in the
    /// order given.
    pub fn from_each<'r>(self, remotes: impl IntoIterator<Item = &'r Remote<V::Peer>>) -> Bound<Each<'a, P, V>>
    where
        V::Peer: 'r,
    {
        Bound { target: self.access.from_each(remotes), captured: self.captured }
    }

    /// Runs the block on every connected remote of a `Multiple` tie; one result per remote.
    pub fn from_all(self) -> Bound<All<'a, P, V>>
    where
        M: Aggregate<P, V::Peer>,
    {
        Bound { target: self.access.from_all(), captured: self.captured }
    }
}

/// A remote block addressed to one or more remotes: `.await` it for the result, or `.tell()`
/// to run it one way.
#[must_use = "a remote block runs when you `.await` it or `.tell()` it"]
pub struct Bound<T> {
    target: T,
    captured: Captured,
}

impl<'a, P: Peer, V: PlacedFunction<Args = Captured>> Bound<Selected<'a, P, V>> {
    /// Waits at most `timeout` for the result, overriding the instance's default.
    pub fn timeout(self, timeout: Duration) -> Self {
        Bound { target: self.target.timeout(timeout), captured: self.captured }
    }

    /// Runs the block one way; fails only when it could not be queued.
    ///
    /// # Cancel safety
    /// Dropping the future before it completes may or may not have queued the block.
    pub fn tell(self) -> impl Future<Output = Result<(), RemoteError>> + Send + 'a {
        self.target.tell(self.captured)
    }
}

impl<'a, P: Peer, V: PlacedFunction<Args = Captured>> IntoFuture for Bound<Selected<'a, P, V>> {
    type Output = Result<V::Output, RemoteError>;
    type IntoFuture = BoxFuture<'a, Self::Output>;
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.target.call(self.captured))
    }
}

impl<'a, P: Peer, V: PlacedFunction<Args = Captured>> Bound<Each<'a, P, V>> {
    /// Waits at most `timeout` for each result, overriding the instance's default.
    pub fn timeout(self, timeout: Duration) -> Self {
        Bound { target: self.target.timeout(timeout), captured: self.captured }
    }

    /// Runs the block one way on each remote; one queuing result per remote.
    ///
    /// # Cancel safety
    /// Dropping the future before it completes may have queued the block for some of the
    /// remotes and not for others.
    pub fn tell(self) -> impl Future<Output = PerRemote<V::Peer, ()>> + Send + 'a {
        self.target.tell(self.captured)
    }
}

impl<'a, P: Peer, V: PlacedFunction<Args = Captured>> IntoFuture for Bound<Each<'a, P, V>> {
    type Output = PerRemote<V::Peer, V::Output>;
    type IntoFuture = BoxFuture<'a, Self::Output>;
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.target.call(self.captured))
    }
}

impl<'a, P: Peer, V: PlacedFunction<Args = Captured>> Bound<All<'a, P, V>> {
    /// Waits at most `timeout` for each result, overriding the instance's default.
    pub fn timeout(self, timeout: Duration) -> Self {
        Bound { target: self.target.timeout(timeout), captured: self.captured }
    }

    /// Runs the block one way on every connected remote; one queuing result per remote.
    ///
    /// # Cancel safety
    /// As for the one-way run on each selected remote: it may have been queued for some.
    pub fn tell(self) -> impl Future<Output = PerRemote<V::Peer, ()>> + Send + 'a {
        self.target.tell(self.captured)
    }
}

impl<'a, P: Peer, V: PlacedFunction<Args = Captured>> IntoFuture for Bound<All<'a, P, V>> {
    type Output = PerRemote<V::Peer, V::Output>;
    type IntoFuture = BoxFuture<'a, Self::Output>;
    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.target.call(self.captured))
    }
}
