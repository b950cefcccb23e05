//! The key table: every binding, its name, scope and help text. [`Keymap`] is the table in use:
//! [`BINDINGS`] with config.toml's `[keys]` applied. Key handling and the help screen both read
//! it, so the help cannot drift from what the keys do.

use std::collections::BTreeMap;

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
            KeyCode::F(n) => format!("F{n}"),
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

/// What a key asks for. Generic actions (`Start`, `Cancel`, `Up`, ...) mean what the tab they
/// are bound in makes of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    ForceQuit,
    /// Ctrl-Z: give the terminal back and stop, as a shell's job control does.
    Suspend,
    NextTab,
    PrevTab,
    GoTo(Tab),
    ToggleHelp,
    ShowMessages,
    /// Start the tab's job (training, study, baselines, analysis).
    Start,
    /// Stop or cancel the tab's job.
    Cancel,
    Up,
    Down,
    Left,
    Right,
    /// Enter: make active, open, invert.
    Choose,
    /// Space in lists: mark or select.
    Toggle,
    ResumeTraining,
    CycleDataset,
    CycleArch,
    EpochsUp,
    EpochsDown,
    LrUp,
    LrDown,
    SeedUp,
    SeedDown,
    ClearMarks,
    Rerun,
    PairView,
    LogScale,
    /// Charts: the next smoothing weight of a noisy curve.
    Smoothing,
    /// Charts: move the reading cursor along x.
    CursorLeft,
    CursorRight,
    /// Charts: write the tab's chart as PNG and SVG.
    ExportChart,
    CycleView,
    LimitUp,
    LimitDown,
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
    ToggleModel,
    CycleSource,
    ToggleRegularisers,
    AllProbabilities,
    OpenFile,
    Paint,
    Erase,
    ClearCanvas,
    SaveDrawing,
    /// Confidence: invert the highlighted mistake (Enter explains it).
    InvertMistake,
    /// Explain: the logit or the probability.
    ToggleScore,
    /// Explain: the heat map or the overlay.
    ToggleOverlay,
}

/// One row of the key table.
#[derive(Debug)]
pub struct Binding {
    /// The action's name in config.toml's `[keys]`.
    pub name: &'static str,
    pub scope: Scope,
    pub keys: &'static [Key],
    pub action: Action,
    pub help: &'static str,
}

const fn bind(
    name: &'static str,
    scope: Scope,
    keys: &'static [Key],
    action: Action,
    help: &'static str,
) -> Binding {
    Binding {
        name,
        scope,
        keys,
        action,
        help,
    }
}

use Scope::Global;
const TRAIN: Scope = Scope::Tab(Tab::Training);
const RUNS: Scope = Scope::Tab(Tab::Runs);
const ABLATE: Scope = Scope::Tab(Tab::Ablation);
const BASE: Scope = Scope::Tab(Tab::Baselines);
const CONF: Scope = Scope::Tab(Tab::Confidence);
const ROBUST: Scope = Scope::Tab(Tab::Robustness);
const INVERT: Scope = Scope::Tab(Tab::Inversion);
const DRAW: Scope = Scope::Tab(Tab::Draw);
const EXPLAIN: Scope = Scope::Tab(Tab::Explain);
const UP: Key = code(KeyCode::Up);
const DOWN: Key = code(KeyCode::Down);
const LEFT: Key = code(KeyCode::Left);
const RIGHT: Key = code(KeyCode::Right);
const ENTER: Key = code(KeyCode::Enter);

/// Every key binding of the dashboard, one per line.
#[rustfmt::skip]
pub const BINDINGS: &[Binding] = &[
    bind("next_tab", Global, &[code(KeyCode::Tab)], Action::NextTab, "next tab"),
    bind("prev_tab", Global, &[code(KeyCode::BackTab)], Action::PrevTab, "previous tab"),
    bind("tab_training", Global, &[ch('1')], Action::GoTo(Tab::Training), "Training tab"),
    bind("tab_runs", Global, &[ch('2')], Action::GoTo(Tab::Runs), "Runs tab"),
    bind("tab_ablation", Global, &[ch('3')], Action::GoTo(Tab::Ablation), "Ablation tab"),
    bind("tab_baselines", Global, &[ch('4')], Action::GoTo(Tab::Baselines), "Baselines tab"),
    bind("tab_confidence", Global, &[ch('5')], Action::GoTo(Tab::Confidence), "Confidence tab"),
    bind("tab_robustness", Global, &[ch('6')], Action::GoTo(Tab::Robustness), "Robustness tab"),
    bind("tab_inversion", Global, &[ch('7')], Action::GoTo(Tab::Inversion), "Inversion tab"),
    bind("tab_draw", Global, &[ch('8')], Action::GoTo(Tab::Draw), "Draw tab"),
    bind("tab_explain", Global, &[ch('9')], Action::GoTo(Tab::Explain), "Explain tab"),
    bind("help", Global, &[ch('?')], Action::ToggleHelp, "show or hide this help"),
    bind("messages", Global, &[ch('!')], Action::ShowMessages, "every message in full"),
    bind("quit", Global, &[ch('q')], Action::Quit, "quit (asks while a job runs)"),
    bind("force_quit", Global, &[ctrl('c')], Action::ForceQuit, "quit now (a training run is checkpointed)"),
    bind("suspend", Global, &[ctrl('z')], Action::Suspend, "suspend to the shell (fg comes back)"),

    bind("train_start", TRAIN, &[ch('s')], Action::Start, "start a new run"),
    bind("train_resume", TRAIN, &[ch('r')], Action::ResumeTraining, "resume the shown run to the epochs set"),
    bind("train_stop", TRAIN, &[ch('x')], Action::Cancel, "stop = pause (checkpoint kept; r goes on)"),
    bind("train_dataset", TRAIN, &[ch('d')], Action::CycleDataset, "data set: mnist / fashion"),
    bind("train_arch", TRAIN, &[ch('a')], Action::CycleArch, "architecture: next built-in or [[arch]]"),
    bind("train_epochs_up", TRAIN, &[ch('e')], Action::EpochsUp, "epochs +1"),
    bind("train_epochs_down", TRAIN, &[ch('E')], Action::EpochsDown, "epochs -1"),
    bind("train_lr_up", TRAIN, &[ch('l')], Action::LrUp, "learning rate x2"),
    bind("train_lr_down", TRAIN, &[ch('L')], Action::LrDown, "learning rate /2"),
    bind("train_seed_up", TRAIN, &[ch('n')], Action::SeedUp, "seed +1"),
    bind("train_seed_down", TRAIN, &[ch('N')], Action::SeedDown, "seed -1"),
    bind("train_log", TRAIN, &[ch('g')], Action::LogScale, "loss axis: linear / log"),
    bind("train_smoothing", TRAIN, &[ch('w')], Action::Smoothing, "smoothing of the per-batch curve"),
    bind("train_cursor_left", TRAIN, &[ch('[')], Action::CursorLeft, "cursor: earlier epoch (reads every line)"),
    bind("train_cursor_right", TRAIN, &[ch(']')], Action::CursorRight, "cursor: later epoch"),
    bind("train_export", TRAIN, &[ch('P')], Action::ExportChart, "save the charts as PNG and SVG"),

    bind("runs_up", RUNS, &[UP, ch('k')], Action::Up, "previous run"),
    bind("runs_down", RUNS, &[DOWN, ch('j')], Action::Down, "next run"),
    bind("runs_activate", RUNS, &[ENTER], Action::Choose, "make this CNN the model of every tab"),
    bind("runs_mark", RUNS, &[ch(' ')], Action::Toggle, "mark: compare its curves on Training"),
    bind("runs_clear", RUNS, &[ch('c')], Action::ClearMarks, "clear the marks"),
    bind("runs_resume", RUNS, &[ch('r')], Action::ResumeTraining, "resume this training run (Training tab's epochs)"),

    bind("ablation_start", ABLATE, &[ch('s')], Action::Start, "start or resume the study ([ablation])"),
    bind("ablation_cancel", ABLATE, &[ch('x')], Action::Cancel, "cancel (finished runs are kept)"),

    bind("baselines_up", BASE, &[UP, ch('k')], Action::Up, "previous model"),
    bind("baselines_down", BASE, &[DOWN, ch('j')], Action::Down, "next model"),
    bind("baselines_toggle", BASE, &[ch(' ')], Action::Toggle, "choose the model or not"),
    bind("baselines_start", BASE, &[ch('s')], Action::Start, "fit and score the chosen models"),
    bind("baselines_rerun", BASE, &[ch('r')], Action::Rerun, "refit the highlighted model only"),
    bind("baselines_cancel", BASE, &[ch('x')], Action::Cancel, "cancel (rows so far are kept)"),

    bind("confidence_start", CONF, &[ch('s')], Action::Start, "analyse (saved probabilities reused)"),
    bind("confidence_cancel", CONF, &[ch('x')], Action::Cancel, "cancel"),
    bind("confidence_prev", CONF, &[LEFT], Action::Left, "previous model"),
    bind("confidence_next", CONF, &[RIGHT], Action::Right, "next model"),
    bind("confidence_pair", CONF, &[ch('b')], Action::PairView, "one model / two side by side"),
    bind("confidence_log", CONF, &[ch('g')], Action::LogScale, "log-scale histogram"),
    bind("confidence_view", CONF, &[ch('v')], Action::CycleView, "view: overview / confusion / mistakes"),
    bind("confidence_up", CONF, &[UP, ch('k')], Action::Up, "previous mistake"),
    bind("confidence_down", CONF, &[DOWN, ch('j')], Action::Down, "next mistake"),
    bind("confidence_explain", CONF, &[ENTER], Action::Choose, "explain the mistake (Explain tab)"),
    bind("confidence_invert", CONF, &[ch('i')], Action::InvertMistake, "invert the mistake to its true label"),
    bind("confidence_export", CONF, &[ch('P')], Action::ExportChart, "save the charts as PNG and SVG"),

    bind("robustness_start", ROBUST, &[ch('s')], Action::Start, "measure (noise, then attacks)"),
    bind("robustness_cancel", ROBUST, &[ch('x')], Action::Cancel, "cancel (what is done is kept)"),
    bind("robustness_more", ROBUST, &[ch('+')], Action::LimitUp, "attack images x2"),
    bind("robustness_fewer", ROBUST, &[ch('-')], Action::LimitDown, "attack images /2"),
    bind("robustness_up", ROBUST, &[UP, ch('k')], Action::Up, "scroll the attack table up"),
    bind("robustness_down", ROBUST, &[DOWN, ch('j')], Action::Down, "scroll the attack table down"),
    bind("robustness_export", ROBUST, &[ch('P')], Action::ExportChart, "save the chart as PNG and SVG"),

    bind("invert_prev_image", INVERT, &[LEFT], Action::Left, "source: previous test image (noise: seed)"),
    bind("invert_next_image", INVERT, &[RIGHT], Action::Right, "source: next test image (noise: seed)"),
    bind("invert_next_class", INVERT, &[ch('c')], Action::NextClass, "source: next class"),
    bind("invert_source", INVERT, &[ch('f')], Action::CycleSource, "source: test / noise / blank / file / drawing"),
    bind("invert_file", INVERT, &[ch('F')], Action::OpenFile, "source: an image file (a path prompt)"),
    bind("invert_target_up", INVERT, &[ch('t')], Action::TargetUp, "target class +1"),
    bind("invert_target_down", INVERT, &[ch('T')], Action::TargetDown, "target class -1"),
    bind("invert_loss", INVERT, &[ch('o')], Action::CycleLoss, "loss: naive / log / logit"),
    bind("invert_step_kind", INVERT, &[ch('n')], Action::ToggleStepKind, "normalised step on/off"),
    bind("invert_lr_up", INVERT, &[ch('+')], Action::InvLrUp, "lr x2"),
    bind("invert_lr_down", INVERT, &[ch('-')], Action::InvLrDown, "lr /2"),
    bind("invert_run_pause", INVERT, &[ch(' ')], Action::RunPause, "run / pause"),
    bind("invert_step", INVERT, &[ch('.')], Action::SingleStep, "single step"),
    bind("invert_reset", INVERT, &[ch('r')], Action::ResetInversion, "reset to the source"),
    bind("invert_snapshot", INVERT, &[ch('s')], Action::Snapshot, "export PNG snapshots"),
    bind("invert_model", INVERT, &[ch('m')], Action::ToggleModel, "model: CNN / k-NN"),
    bind("invert_regularisers", INVERT, &[ch('R')], Action::ToggleRegularisers, "regularisers on/off"),
    bind("invert_all_probs", INVERT, &[ch('p')], Action::AllProbabilities, "chart: p(target) / all ten"),
    bind("invert_cursor_left", INVERT, &[ch('[')], Action::CursorLeft, "chart cursor: earlier step"),
    bind("invert_cursor_right", INVERT, &[ch(']')], Action::CursorRight, "chart cursor: later step"),
    bind("invert_export", INVERT, &[ch('P')], Action::ExportChart, "save the chart as PNG and SVG"),
    bind("invert_sweep", INVERT, &[ch('S')], Action::Start, "sweep: lr x start to the target (lrs 0.01-1, noise:1-5)"),
    bind("invert_sweep_cancel", INVERT, &[ch('x')], Action::Cancel, "cancel the sweep (finished cells are kept)"),
    bind("invert_sweep_view", INVERT, &[ch('v')], Action::CycleView, "view: single inversion / sweep"),

    bind("draw_up", DRAW, &[UP], Action::Up, "cursor up"),
    bind("draw_down", DRAW, &[DOWN], Action::Down, "cursor down"),
    bind("draw_left", DRAW, &[LEFT], Action::Left, "cursor left"),
    bind("draw_right", DRAW, &[RIGHT], Action::Right, "cursor right"),
    bind("draw_paint", DRAW, &[ch(' ')], Action::Paint, "paint at the cursor (mouse: left drag)"),
    bind("draw_erase", DRAW, &[ch('x')], Action::Erase, "erase at the cursor (mouse: right drag)"),
    bind("draw_clear", DRAW, &[ch('c')], Action::ClearCanvas, "clear the canvas"),
    bind("draw_target_up", DRAW, &[ch('t')], Action::TargetUp, "target class +1"),
    bind("draw_target_down", DRAW, &[ch('T')], Action::TargetDown, "target class -1"),
    bind("draw_invert", DRAW, &[ENTER], Action::Choose, "invert the drawing towards the target"),
    bind("draw_save", DRAW, &[ch('s')], Action::SaveDrawing, "save the drawing as PNG"),

    bind("explain_prev_image", EXPLAIN, &[LEFT], Action::Left, "previous test image"),
    bind("explain_next_image", EXPLAIN, &[RIGHT], Action::Right, "next test image"),
    bind("explain_source", EXPLAIN, &[ch('f')], Action::CycleSource, "source: test / file / drawing / inversion"),
    bind("explain_target_up", EXPLAIN, &[ch('t')], Action::TargetUp, "target: pred, true, 0-9"),
    bind("explain_target_down", EXPLAIN, &[ch('T')], Action::TargetDown, "target: back"),
    bind("explain_method_up", EXPLAIN, &[UP, ch('k')], Action::Up, "previous method"),
    bind("explain_method_down", EXPLAIN, &[DOWN, ch('j')], Action::Down, "next method"),
    bind("explain_model", EXPLAIN, &[ch('m')], Action::ToggleModel, "model: CNN / logreg / knn / tree / forest / svm"),
    bind("explain_score", EXPLAIN, &[ch('p')], Action::ToggleScore, "explain the logit / the probability"),
    bind("explain_view", EXPLAIN, &[ch('v')], Action::CycleView, "view: maps / all methods / tables"),
    bind("explain_overlay", EXPLAIN, &[ch('o')], Action::ToggleOverlay, "heat map / overlay (narrow screens)"),
    bind("explain_tables", EXPLAIN, &[ch('s')], Action::Start, "measure faithfulness and the sanity check"),
    bind("explain_cancel", EXPLAIN, &[ch('x')], Action::Cancel, "cancel the measurement"),
];

/// Why config.toml's `[keys]` could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("config key 'keys.{action}': {message}")]
pub struct KeyConfigError {
    /// The action named in `[keys]` (the config key is `keys.<action>`).
    pub action: String,
    pub message: String,
}

/// Parses a key as written in config.toml: one character (`a`, `A`, `?`), a named key (`Space`,
/// `Tab`, `Shift-Tab`, `Enter`, `Esc`, `Left`, `F5`, ...), optionally with a `Ctrl-` prefix.
pub fn parse_key(text: &str) -> Result<Key, String> {
    let expected = "expected one character (a, A, ?, +) or Space, Tab, Shift-Tab, Enter, Esc, \
        Backspace, Delete, Insert, Home, End, PageUp, PageDown, Left, Right, Up, Down, F1-F12, \
        optionally with a Ctrl- prefix";
    let shown: String = text.chars().take(20).flat_map(char::escape_debug).collect();
    let bad = || format!("unknown key '{shown}': {expected}");
    let lower = text.to_lowercase();
    let (ctrl, rest) = match ["ctrl-", "ctrl+"]
        .iter()
        .find(|p| lower.starts_with(*p) && text.len() > p.len())
    {
        Some(p) => (true, &text[p.len()..]),
        None => (false, text),
    };
    let mut chars = rest.chars();
    let code = match (chars.next(), chars.next()) {
        (Some(c), None) if c.is_control() => {
            return Err(format!(
                "'{shown}' is a control character, which terminals never send as a key; name the key instead (Tab, Enter, Esc, Backspace)"
            ))
        }
        (Some(c), None) if ctrl && "ihmj[".contains(c.to_ascii_lowercase()) => {
            return Err(format!(
                "'{shown}' cannot be told apart: terminals send it as Tab, Backspace, Enter or Esc; choose another key"
            ))
        }
        (Some(c), None) if ctrl => KeyCode::Char(c.to_ascii_lowercase()),
        (Some(c), None) => KeyCode::Char(c),
        _ => match rest.to_lowercase().as_str() {
            "space" => KeyCode::Char(' '),
            "tab" => KeyCode::Tab,
            "shift-tab" | "shift+tab" | "backtab" => KeyCode::BackTab,
            "enter" | "return" => KeyCode::Enter,
            "esc" | "escape" => KeyCode::Esc,
            "backspace" => KeyCode::Backspace,
            "delete" | "del" => KeyCode::Delete,
            "insert" | "ins" => KeyCode::Insert,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "pageup" => KeyCode::PageUp,
            "pagedown" => KeyCode::PageDown,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            f => match f.strip_prefix('f').and_then(|n| n.parse::<u8>().ok()) {
                Some(n @ 1..=12) => KeyCode::F(n),
                _ => return Err(bad()),
            },
        },
    };
    Ok(Key { code, ctrl })
}

/// One row of the table in use.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    name: &'static str,
    scope: Scope,
    keys: Vec<Key>,
    action: Action,
    help: &'static str,
}

/// The key table in use: [`BINDINGS`] with config.toml's `[keys]` (action name = key) applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Keymap {
    rows: Vec<Row>,
}

impl Default for Keymap {
    fn default() -> Self {
        Self {
            rows: BINDINGS
                .iter()
                .map(|b| Row {
                    name: b.name,
                    scope: b.scope,
                    keys: b.keys.to_vec(),
                    action: b.action,
                    help: b.help,
                })
                .collect(),
        }
    }
}

impl Keymap {
    /// The default table with `rebound` (action name to key) applied. Unknown actions, bad keys
    /// and keys that end up bound twice in one scope are errors naming the action.
    pub fn new(rebound: &BTreeMap<String, String>) -> Result<Self, KeyConfigError> {
        let mut map = Self::default();
        for (name, key) in rebound {
            // The name as it may be shown: escaped, and short.
            let shown: String = name.chars().take(40).flat_map(char::escape_debug).collect();
            let fail = |message: String| KeyConfigError {
                action: shown.clone(),
                message,
            };
            let row = map
                .rows
                .iter_mut()
                .find(|r| r.name == name)
                .ok_or_else(|| fail(format!("unknown action '{shown}' (actions: {})", names())))?;
            match row.action {
                Action::ForceQuit => {
                    return Err(fail("Ctrl-c always quits; it cannot be rebound".into()))
                }
                Action::Suspend => {
                    return Err(fail("Ctrl-z always suspends; it cannot be rebound".into()))
                }
                _ => {}
            }
            row.keys = vec![parse_key(key).map_err(fail)?];
        }
        for (i, a) in map.rows.iter().enumerate() {
            for b in &map.rows[i + 1..] {
                let overlap =
                    a.scope == b.scope || a.scope == Scope::Global || b.scope == Scope::Global;
                if let Some(k) = a.keys.iter().find(|k| overlap && b.keys.contains(k)) {
                    let (ours, theirs) = if rebound.contains_key(b.name) {
                        (b, a)
                    } else {
                        (a, b)
                    };
                    return Err(KeyConfigError {
                        action: ours.name.to_string(),
                        message: format!("{} is already bound to {}", k.label(), theirs.name),
                    });
                }
            }
        }
        Ok(map)
    }

    /// The action a key event asks for on `tab`: tab bindings first, then global ones.
    pub fn action_for(&self, tab: Tab, event: &KeyEvent) -> Option<Action> {
        let find = |scope: Scope| {
            self.rows
                .iter()
                .filter(|b| b.scope == scope)
                .find(|b| b.keys.iter().any(|k| k.matches(event)))
                .map(|b| b.action)
        };
        find(Scope::Tab(tab)).or_else(|| find(Scope::Global))
    }

    /// How the keys of `action` on `tab` read (`s`, `←/→`), for hints in the views.
    pub fn label(&self, tab: Tab, action: Action) -> String {
        self.rows
            .iter()
            .filter(|r| r.scope == Scope::Global || r.scope == Scope::Tab(tab))
            .filter(|r| r.action == action)
            .flat_map(|r| r.keys.iter().map(Key::label))
            .collect::<Vec<_>>()
            .join("/")
    }

    /// Help rows for `tab`: (keys, description), global bindings first; the tab-number keys
    /// share one row.
    pub fn help_rows(&self, tab: Tab) -> Vec<(String, &'static str)> {
        let mut rows: Vec<(String, &'static str)> = Vec::new();
        let mut tab_keys: Vec<String> = Vec::new();
        for b in self
            .rows
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
}

/// Every action name, for error messages.
fn names() -> String {
    BINDINGS
        .iter()
        .map(|b| b.name)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(a, k)| (a.to_string(), k.to_string()))
            .collect()
    }

    fn press(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
    }

    #[test]
    fn names_are_unique_and_documented_in_config_toml() {
        let shipped = include_str!("../../config.toml");
        for (i, a) in BINDINGS.iter().enumerate() {
            assert!(
                BINDINGS[i + 1..].iter().all(|b| b.name != a.name),
                "{}",
                a.name
            );
            assert!(
                shipped.contains(a.name),
                "config.toml does not list {}",
                a.name
            );
        }
    }

    #[test]
    fn the_readme_key_table_lists_every_binding() {
        let readme = include_str!("../../README.md");
        for b in BINDINGS {
            let scope = match b.scope {
                Scope::Global => "everywhere",
                Scope::Tab(t) => t.title(),
            };
            let keys: Vec<String> = b.keys.iter().map(Key::label).collect();
            let row = format!("| {scope} | `{}` | {} |", keys.join(" / "), b.help);
            assert!(readme.contains(&row), "README.md lacks the key row {row}");
        }
    }

    #[test]
    fn keys_parse_from_config_text() {
        assert_eq!(parse_key("a"), Ok(ch('a')));
        assert_eq!(parse_key("A"), Ok(ch('A')));
        assert_eq!(parse_key("Ctrl-X"), Ok(ctrl('x')));
        assert_eq!(parse_key("space"), Ok(ch(' ')));
        assert_eq!(parse_key("Shift-Tab"), Ok(code(KeyCode::BackTab)));
        assert_eq!(parse_key("F5"), Ok(code(KeyCode::F(5))));
        assert_eq!(parse_key("PageDown"), Ok(code(KeyCode::PageDown)));
        for bad in ["", "F13", "ctrl-", "spacebar"] {
            let err = parse_key(bad).unwrap_err();
            assert!(err.contains("expected one character"), "{err}");
        }
        let err = parse_key("Ctrl-i").unwrap_err();
        assert!(err.contains("Tab"), "{err}");
    }

    #[test]
    fn rebinding_moves_the_key_and_the_help() {
        let keys =
            Keymap::new(&map(&[("train_start", "y"), ("invert_run_pause", "Enter")])).unwrap();
        assert_eq!(
            keys.action_for(Tab::Training, &press('y')),
            Some(Action::Start)
        );
        assert_eq!(keys.action_for(Tab::Training, &press('s')), None);
        assert!(keys
            .help_rows(Tab::Training)
            .iter()
            .any(|(k, h)| k == "y" && h.contains("start")));
        assert_eq!(keys.label(Tab::Inversion, Action::RunPause), "Enter");
        assert_eq!(keys.label(Tab::Baselines, Action::Start), "s");
    }

    #[test]
    fn bad_rebindings_name_the_action() {
        let err = Keymap::new(&map(&[("launch", "g")])).unwrap_err();
        assert_eq!(err.action, "launch");
        assert!(err.message.contains("train_start"), "{}", err.message);
        assert!(
            err.to_string()
                .starts_with("config key 'keys.launch': unknown action"),
            "{err}"
        );
        let err = Keymap::new(&map(&[("train_stop", "Ctrl-")])).unwrap_err();
        assert_eq!(err.action, "train_stop");
        let err = Keymap::new(&map(&[("train_start", "q")])).unwrap_err();
        assert_eq!(err.action, "train_start");
        assert!(err.message.contains("quit"), "{}", err.message);
        let err = Keymap::new(&map(&[("force_quit", "k")])).unwrap_err();
        assert_eq!(err.action, "force_quit");
        let err = Keymap::new(&map(&[("suspend", "k")])).unwrap_err();
        assert_eq!(err.action, "suspend");
        // Tab-scoped keys may repeat across tabs.
        assert!(Keymap::new(&map(&[("train_start", "m")])).is_ok());
    }

    /// Keys a terminal never sends as such (control characters) or that the dashboard keeps
    /// for itself (Tab, Ctrl-c, Ctrl-z) are refused naming the config key.
    #[test]
    fn reserved_and_unreceivable_keys_are_refused_naming_the_key() {
        for key in ["\t", "\u{1b}", "\0", "\r", "\n", "\u{7f}", "Ctrl-\t"] {
            let err = Keymap::new(&map(&[("train_start", key)])).unwrap_err();
            assert_eq!(err.action, "train_start", "{key:?}");
            let text = err.to_string();
            assert!(
                text.starts_with("config key 'keys.train_start': "),
                "{key:?}: {text}"
            );
            assert!(
                !text.chars().any(char::is_control),
                "{key:?}: no raw control character in {text:?}"
            );
        }
        let err = Keymap::new(&map(&[("\u{1b}[31mred", "g")])).unwrap_err();
        assert!(!err.to_string().chars().any(char::is_control), "{err}");
        for (key, owner) in [
            ("Tab", "next_tab"),
            ("Ctrl-c", "force_quit"),
            ("Ctrl-z", "suspend"),
        ] {
            let err = Keymap::new(&map(&[("train_start", key)])).unwrap_err();
            assert_eq!(err.action, "train_start", "{key}");
            assert!(err.message.contains(owner), "{key}: {}", err.message);
        }
    }

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
    fn every_tab_s_help_fits_an_80x24_screen_in_two_columns() {
        for tab in Tab::ALL {
            let rows = Keymap::default().help_rows(tab).len();
            assert!(rows <= 2 * 22, "{tab:?}: {rows} help rows");
        }
    }

    #[test]
    fn help_lists_global_and_tab_keys_only() {
        let rows = Keymap::default().help_rows(Tab::Training);
        assert!(rows.iter().any(|(k, _)| k == "Ctrl-c"));
        assert!(rows.iter().any(|(k, h)| k == "s" && h.contains("start")));
        assert!(!rows.iter().any(|(_, h)| h.contains("snapshot")));
        assert!(rows.iter().any(|(k, _)| k == "1 2 3 4 5 6 7 8 9"));
    }
}
