//! The key table: every binding, its scope and its help text. Key handling and the help screen
//! both read [`BINDINGS`], so the help cannot drift from what the keys do.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::app::Tab;

/// A key, with the modifiers that matter (Shift is part of the character, so it is ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
}

const fn ch(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        ctrl: false,
    }
}

const fn ctrl(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        ctrl: true,
    }
}

const fn code(code: KeyCode) -> Key {
    Key { code, ctrl: false }
}

impl Key {
    /// Whether a terminal key event is this key.
    pub fn matches(&self, event: &KeyEvent) -> bool {
        event.code == self.code && event.modifiers.contains(KeyModifiers::CONTROL) == self.ctrl
    }

    /// How the help screen names the key.
    pub fn label(&self) -> String {
        let base = match self.code {
            KeyCode::Char(' ') => "Space".to_string(),
            KeyCode::Char(c) => c.to_string(),
            KeyCode::Tab => "Tab".into(),
            KeyCode::BackTab => "Shift-Tab".into(),
            KeyCode::Left => "←".into(),
            KeyCode::Right => "→".into(),
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::Esc => "Esc".into(),
            KeyCode::Enter => "Enter".into(),
            other => format!("{other:?}"),
        };
        if self.ctrl {
            format!("Ctrl-{base}")
        } else {
            base
        }
    }
}

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Global,
    Tab(Tab),
}

/// What a key asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    ForceQuit,
    NextTab,
    PrevTab,
    GoTo(Tab),
    ToggleHelp,
    StartTraining,
    ResumeTraining,
    StopTraining,
    EpochsUp,
    EpochsDown,
    LrUp,
    LrDown,
    SeedUp,
    SeedDown,
    PrevImage,
    NextImage,
    NextClass,
    TargetUp,
    TargetDown,
    CycleLoss,
    ToggleStepKind,
    InvLrUp,
    InvLrDown,
    RunPause,
    SingleStep,
    ResetInversion,
    Snapshot,
}

/// One row of the key table.
#[derive(Debug)]
pub struct Binding {
    pub scope: Scope,
    pub keys: &'static [Key],
    pub action: Action,
    pub help: &'static str,
}

const fn bind(scope: Scope, keys: &'static [Key], action: Action, help: &'static str) -> Binding {
    Binding {
        scope,
        keys,
        action,
        help,
    }
}

use Scope::Global;
const TRAIN: Scope = Scope::Tab(Tab::Training);
const INVERT: Scope = Scope::Tab(Tab::Inversion);

/// Every key binding of the dashboard.
pub const BINDINGS: &[Binding] = &[
    bind(Global, &[code(KeyCode::Tab)], Action::NextTab, "next tab"),
    bind(
        Global,
        &[code(KeyCode::BackTab)],
        Action::PrevTab,
        "previous tab",
    ),
    bind(
        Global,
        &[ch('1')],
        Action::GoTo(Tab::Training),
        "Training tab",
    ),
    bind(
        Global,
        &[ch('2')],
        Action::GoTo(Tab::Ablation),
        "Ablation tab",
    ),
    bind(
        Global,
        &[ch('3')],
        Action::GoTo(Tab::Baselines),
        "Baselines tab",
    ),
    bind(
        Global,
        &[ch('4')],
        Action::GoTo(Tab::Confidence),
        "Confidence tab",
    ),
    bind(
        Global,
        &[ch('5')],
        Action::GoTo(Tab::Inversion),
        "Inversion tab",
    ),
    bind(
        Global,
        &[ch('?')],
        Action::ToggleHelp,
        "show or hide this help",
    ),
    bind(
        Global,
        &[ch('q')],
        Action::Quit,
        "quit (asks while a job runs)",
    ),
    bind(
        Global,
        &[ctrl('c')],
        Action::ForceQuit,
        "quit now (a training run is checkpointed)",
    ),
    bind(TRAIN, &[ch('s')], Action::StartTraining, "start a new run"),
    bind(
        TRAIN,
        &[ch('r')],
        Action::ResumeTraining,
        "resume the shown run to the epochs set",
    ),
    bind(
        TRAIN,
        &[ch('x')],
        Action::StopTraining,
        "stop (checkpoint kept)",
    ),
    bind(TRAIN, &[ch('e')], Action::EpochsUp, "epochs +1"),
    bind(TRAIN, &[ch('E')], Action::EpochsDown, "epochs -1"),
    bind(TRAIN, &[ch('l')], Action::LrUp, "learning rate x2"),
    bind(TRAIN, &[ch('L')], Action::LrDown, "learning rate /2"),
    bind(TRAIN, &[ch('n')], Action::SeedUp, "seed +1"),
    bind(TRAIN, &[ch('N')], Action::SeedDown, "seed -1"),
    bind(
        INVERT,
        &[code(KeyCode::Left)],
        Action::PrevImage,
        "source: previous test image",
    ),
    bind(
        INVERT,
        &[code(KeyCode::Right)],
        Action::NextImage,
        "source: next test image",
    ),
    bind(INVERT, &[ch('c')], Action::NextClass, "source: next class"),
    bind(INVERT, &[ch('t')], Action::TargetUp, "target class +1"),
    bind(INVERT, &[ch('T')], Action::TargetDown, "target class -1"),
    bind(
        INVERT,
        &[ch('o')],
        Action::CycleLoss,
        "loss: naive / log / logit",
    ),
    bind(
        INVERT,
        &[ch('n')],
        Action::ToggleStepKind,
        "normalised step on/off",
    ),
    bind(INVERT, &[ch('+')], Action::InvLrUp, "lr x2"),
    bind(INVERT, &[ch('-')], Action::InvLrDown, "lr /2"),
    bind(INVERT, &[ch(' ')], Action::RunPause, "run / pause"),
    bind(INVERT, &[ch('.')], Action::SingleStep, "single step"),
    bind(
        INVERT,
        &[ch('r')],
        Action::ResetInversion,
        "reset to the source",
    ),
    bind(INVERT, &[ch('s')], Action::Snapshot, "export PNG snapshots"),
];

/// The action a key event asks for on `tab`: tab bindings first, then global ones.
pub fn action_for(tab: Tab, event: &KeyEvent) -> Option<Action> {
    let find = |scope: Scope| {
        BINDINGS
            .iter()
            .filter(|b| b.scope == scope)
            .find(|b| b.keys.iter().any(|k| k.matches(event)))
            .map(|b| b.action)
    };
    find(Scope::Tab(tab)).or_else(|| find(Scope::Global))
}

/// Help rows for `tab`: (keys, description), global bindings first; the tab-number keys share
/// one row.
pub fn help_rows(tab: Tab) -> Vec<(String, &'static str)> {
    let mut rows: Vec<(String, &'static str)> = Vec::new();
    let mut tab_keys: Vec<String> = Vec::new();
    for b in BINDINGS
        .iter()
        .filter(|b| b.scope == Scope::Global || b.scope == Scope::Tab(tab))
    {
        let keys: Vec<String> = b.keys.iter().map(Key::label).collect();
        if matches!(b.action, Action::GoTo(_)) {
            if tab_keys.is_empty() {
                rows.push((String::new(), "go to that tab"));
            }
            tab_keys.extend(keys);
            continue;
        }
        rows.push((keys.join(" / "), b.help));
    }
    if let Some(row) = rows.iter_mut().find(|r| r.0.is_empty()) {
        row.0 = tab_keys.join(" ");
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_key_is_bound_twice_in_one_scope_or_shadowed_by_a_tab() {
        for (i, a) in BINDINGS.iter().enumerate() {
            for b in &BINDINGS[i + 1..] {
                let overlapping_scope =
                    a.scope == b.scope || a.scope == Scope::Global || b.scope == Scope::Global;
                if !overlapping_scope {
                    continue;
                }
                for k in a.keys {
                    assert!(
                        !b.keys.contains(k),
                        "{} bound to both {:?} and {:?}",
                        k.label(),
                        a.action,
                        b.action
                    );
                }
            }
        }
    }

    #[test]
    fn help_lists_global_and_tab_keys_only() {
        let rows = help_rows(Tab::Training);
        assert!(rows.iter().any(|(k, _)| k == "Ctrl-c"));
        assert!(rows.iter().any(|(k, h)| k == "s" && h.contains("start")));
        assert!(!rows.iter().any(|(_, h)| h.contains("snapshot")));
        assert!(rows.iter().any(|(k, _)| k == "1 2 3 4 5"));
    }
}
