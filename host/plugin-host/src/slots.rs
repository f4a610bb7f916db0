//! The engine's instance slots, shared out between plugins.
//!
//! Every live instance (prepared, in a call, or spent and waiting to be dropped) holds one of
//! the pooling allocator's slots (`[plugins] max_instances`). Each plugin reserves some
//! (`limits.reserved_instances`): those are its own; the rest are shared, first come, first
//! served. So a flood of calls to one plugin can take every shared slot but never another
//! plugin's reservation, and a call that finds no slot is told so ([`NoFreeInstance`]) apart
//! from a plugin's own failure.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

/// The slots of one engine.
pub(crate) struct Slots {
    state: Mutex<State>,
    /// Woken whenever a slot is given back.
    freed: Notify,
}

struct State {
    total: u32,
    /// Shared slots in use.
    shared_in_use: u32,
    plugins: HashMap<Arc<str>, Share>,
}

/// One plugin's part.
#[derive(Default)]
struct Share {
    /// The reservations of the plugin's loaded versions; the largest is the plugin's.
    reservations: Vec<u32>,
    /// Reserved slots in use.
    in_use: u32,
}

impl Share {
    fn reserved(&self) -> u32 {
        self.reservations.iter().copied().max().unwrap_or(0)
    }
}

impl State {
    fn reserved(&self) -> u32 {
        self.plugins.values().map(Share::reserved).sum()
    }

    fn forget_if_unused(&mut self, plugin: &str) {
        if self.plugins.get(plugin).is_some_and(|s| s.reservations.is_empty() && s.in_use == 0) {
            self.plugins.remove(plugin);
        }
    }
}

/// How the slots are used now, for the metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SlotUsage {
    /// The engine's slots (`[plugins] max_instances`).
    pub total: u32,
    /// Slots the loaded plugins reserve.
    pub reserved: u32,
    /// Slots held by live instances (prepared, in a call, or waiting to be dropped).
    pub in_use: u32,
}

/// The error a call fails with when no slot came free in time. Calls are classified by
/// finding it as the root cause.
#[derive(Debug)]
pub(crate) struct NoFreeInstance;

impl std::fmt::Display for NoFreeInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no plugin instance slot is free (the plugin's reservation and the shared slots are in use)")
    }
}

impl std::error::Error for NoFreeInstance {}

impl Slots {
    pub(crate) fn new(total: u32) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State { total, shared_in_use: 0, plugins: HashMap::new() }),
            freed: Notify::new(),
        })
    }

    pub(crate) fn usage(&self) -> SlotUsage {
        let state = self.state();
        let in_use = state.shared_in_use + state.plugins.values().map(|s| s.in_use).sum::<u32>();
        SlotUsage { total: state.total, reserved: state.reserved(), in_use }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("slots lock")
    }

    /// Reserves `count` slots for `plugin` while the returned guard lives (one per loaded
    /// version; versions of a plugin share the largest of their reservations). Refused when the
    /// plugins' reservations would exceed the engine's slots.
    pub(crate) fn reserve(self: &Arc<Self>, plugin: &Arc<str>, count: u32) -> Result<Reservation, String> {
        let mut state = self.state();
        let current = state.plugins.get(plugin).map_or(0, Share::reserved);
        let after = state.reserved() - current + current.max(count);
        if after > state.total {
            return Err(format!(
                "plugin {plugin:?} reserves {count} instances (limits.reserved_instances), which would make the \
                 plugins' reservations {after} of the server's {} instance slots; lower the reservations or raise \
                 [plugins] max_instances",
                state.total
            ));
        }
        state.plugins.entry(plugin.clone()).or_default().reservations.push(count);
        Ok(Reservation { slots: self.clone(), plugin: plugin.clone(), count })
    }

    /// A slot for one instance of `plugin`: one of its reserved slots, else a shared one.
    fn try_take(self: &Arc<Self>, plugin: &Arc<str>) -> Option<Slot> {
        let mut guard = self.state();
        let state = &mut *guard;
        let shared = state.total.saturating_sub(state.reserved());
        let share = state.plugins.entry(plugin.clone()).or_default();
        let reserved = if share.in_use < share.reserved() {
            share.in_use += 1;
            true
        } else if state.shared_in_use < shared {
            state.shared_in_use += 1;
            false
        } else {
            state.forget_if_unused(plugin);
            return None;
        };
        Some(Slot { slots: self.clone(), plugin: plugin.clone(), reserved })
    }

    /// A slot for one instance of `plugin`, waiting up to `wait` for one to come free.
    pub(crate) async fn take(self: &Arc<Self>, plugin: &Arc<str>, wait: Duration) -> Result<Slot, NoFreeInstance> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            // Registered before looking, so a slot given back meanwhile is not missed.
            freed.as_mut().enable();
            if let Some(slot) = self.try_take(plugin) {
                return Ok(slot);
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                return Err(NoFreeInstance);
            }
        }
    }
}

/// A plugin version's reservation, given back when the version is dropped.
pub(crate) struct Reservation {
    slots: Arc<Slots>,
    plugin: Arc<str>,
    count: u32,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut state = self.slots.state();
        if let Some(share) = state.plugins.get_mut(&self.plugin)
            && let Some(i) = share.reservations.iter().position(|&c| c == self.count)
        {
            share.reservations.swap_remove(i);
        }
        state.forget_if_unused(&self.plugin);
        drop(state);
        self.slots.freed.notify_waiters();
    }
}

/// One instance's slot, given back when the instance is dropped.
pub(crate) struct Slot {
    slots: Arc<Slots>,
    plugin: Arc<str>,
    reserved: bool,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut state = self.slots.state();
        if self.reserved {
            if let Some(share) = state.plugins.get_mut(&self.plugin) {
                share.in_use -= 1;
            }
        } else {
            state.shared_in_use -= 1;
        }
        state.forget_if_unused(&self.plugin);
        drop(state);
        self.slots.freed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Arc<str> {
        s.into()
    }

    #[tokio::test]
    async fn a_flood_of_one_plugin_never_takes_another_plugins_reservation() {
        let slots = Slots::new(4);
        let (a, b) = (name("a"), name("b"));
        let _ra = slots.reserve(&a, 1).unwrap();
        let _rb = slots.reserve(&b, 1).unwrap();
        // a gets its own slot and the two shared ones, then nothing.
        let held: Vec<Slot> = (0..3).map(|_| slots.try_take(&a).expect("a slot for a")).collect();
        assert!(slots.try_take(&a).is_none());
        assert!(matches!(slots.take(&a, Duration::from_millis(20)).await, Err(NoFreeInstance)));
        // b still has its reservation, and only that.
        let b1 = slots.try_take(&b).expect("b's reserved slot");
        assert!(slots.try_take(&b).is_none());
        drop(b1);
        // A slot a gives back goes to whoever waits.
        let waiter = {
            let (slots, b) = (slots.clone(), b.clone());
            tokio::spawn(async move { slots.take(&b, Duration::from_secs(5)).await.map(|_| ()) })
        };
        let _b2 = slots.try_take(&b).expect("b's reserved slot again");
        drop(held);
        assert!(waiter.await.unwrap().is_ok(), "the waiter got a freed shared slot");
    }

    #[test]
    fn reservations_cannot_exceed_the_slots_and_versions_share_the_largest() {
        let slots = Slots::new(4);
        let (a, b) = (name("a"), name("b"));
        let a1 = slots.reserve(&a, 2).unwrap();
        let a2 = slots.reserve(&a, 3).unwrap();
        let refused = slots.reserve(&b, 2).err().expect("3 + 2 > 4");
        assert!(refused.contains("max_instances"), "{refused}");
        drop(a2);
        let _b = slots.reserve(&b, 2).expect("2 + 2 fit once the larger version is gone");
        drop(a1);
        assert!(!slots.state().plugins.contains_key("a"), "a plugin with nothing left is forgotten");
    }
}
