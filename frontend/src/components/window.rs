//! Windowed table bodies: a long table renders only the rows in view (and a few around them),
//! with spacer rows standing for the rest, so tables stay fast at 10,000 rows. Short tables
//! render every row.

use crate::state::Key;
use leptos::prelude::*;

/// The height of one row of a windowed table, in CSS pixels (kept by `.windowed tr`).
pub const ROW_HEIGHT: f64 = 34.0;
/// Tables with more rows than this are windowed.
pub const WINDOW_FROM: usize = 150;
/// Rows rendered beyond the visible ones, above and below.
const OVERSCAN: usize = 10;
/// The height of a windowed table's scrolling box (`.windowed` max-height).
const VIEWPORT: f64 = 640.0;

/// The scroll position of one table's box.
#[derive(Clone, Copy)]
pub struct Window {
    scroll_top: RwSignal<f64>,
}

impl Window {
    pub fn new() -> Self {
        Window { scroll_top: RwSignal::new(0.0) }
    }

    /// For the box's `on:scroll`.
    pub fn on_scroll(self) -> impl Fn(leptos::ev::Event) + Copy {
        move |ev| self.scroll_top.set(event_target::<web_sys::Element>(&ev).scroll_top() as f64)
    }

    /// The rows to render of `keys`, and the spacer heights above and below them. Reactive.
    pub fn slice(self, keys: &[Key]) -> (Vec<Key>, f64, f64) {
        let total = keys.len();
        if total <= WINDOW_FROM {
            return (keys.to_vec(), 0.0, 0.0);
        }
        let first = ((self.scroll_top.get() / ROW_HEIGHT) as usize).saturating_sub(OVERSCAN).min(total);
        let last = (first + (VIEWPORT / ROW_HEIGHT) as usize + 2 * OVERSCAN).min(total);
        (keys[first..last].to_vec(), first as f64 * ROW_HEIGHT, (total - last) as f64 * ROW_HEIGHT)
    }
}

/// A spacer row of `height` pixels spanning the table.
pub fn spacer(height: f64, columns: usize) -> impl IntoView {
    (height > 0.0).then(|| {
        view! { <tr class="spacer" aria-hidden="true" style=format!("height: {height}px")><td colspan=columns></td></tr> }
    })
}
