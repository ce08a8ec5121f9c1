//! The console page as the test reads and drives it: JavaScript snippets
//! evaluated over the DevTools protocol (what is shown, the form).

/// What a failing wait prints: status, events and the ids shown.
pub const DESCRIBE_PAGE: &str = r#"JSON.stringify({
  url: location.href,
  status: document.querySelector('#status')?.textContent,
  events: [...document.querySelectorAll('#notices li')].map(li => li.textContent).slice(0, 12),
  login_error: document.querySelector('#login-error')?.textContent,
  rooms: [...document.querySelectorAll('#subscriptions [data-room-id]')].map(c => c.dataset.roomId + ':' + c.dataset.state),
  messages: [...document.querySelectorAll('#messages [data-message-id]')].map(m => m.dataset.messageId),
  alerts: [...document.querySelectorAll('#alerts [data-alert-id]')].map(a => a.dataset.alertId),
  alerts_state: document.querySelector('#alerts-panel')?.dataset.state,
})"#;

/// Every message id shown, top to bottom.
pub const MESSAGE_IDS: &str =
    "[...document.querySelectorAll('#messages [data-message-id]')].map(m => m.dataset.messageId)";

/// A JS string literal.
pub fn js(text: &str) -> String {
    serde_json::to_string(text).expect("string literal")
}

/// JS: the first element matching `selector` (which ends in an open
/// attribute test, e.g. `#alerts [data-alert-id`) whose attribute is `value`.
pub fn find(selector: &str, value: &str) -> String {
    format!(
        "document.querySelector('{selector}=' + JSON.stringify({}) + ']')",
        js(value)
    )
}

/// JS: the message shown with this id.
pub fn message(id: &str) -> String {
    find("#messages [data-message-id", id)
}

/// JS: true when the message is shown.
pub fn shows_message(id: &str) -> String {
    format!("!!{}", message(id))
}

/// JS: the subscription chip of a room.
pub fn chip(room: &str) -> String {
    find("#subscriptions [data-room-id", room)
}

/// JS: fills the room field and submits the form.
pub fn subscribe_via_form(room: &str) -> String {
    format!(
        "document.querySelector('#room-input').value = {}; \
         document.querySelector('#subscribe-form').requestSubmit(); true",
        js(room)
    )
}
