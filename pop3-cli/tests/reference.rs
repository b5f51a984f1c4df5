//! The command's own reference: completion scripts and man pages, generated from its
//! definition.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;
use support::{code, pop3, stderr, stdout};

#[test]
fn completion_scripts_know_every_command() {
    for shell in ["bash", "zsh", "fish"] {
        let out = pop3(&["completions", shell], None);
        assert_eq!(code(&out), 0, "{shell}: {}", stderr(&out));
        // Nothing else happens: no embedded server, no notice.
        assert_eq!(stderr(&out), "", "{shell}");
        let script = stdout(&out);
        for word in ["fetch", "bench", "demo", "connections", "maildir"] {
            assert!(script.contains(word), "{shell} script lacks {word}");
        }
    }
    assert_eq!(code(&pop3(&["completions", "tcsh"], None)), 2);
}

#[test]
fn man_pages_cover_the_command_and_each_subcommand() {
    let out = pop3(&["man"], None);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let page = stdout(&out);
    assert!(page.contains(".TH pop3 1"), "{page}");
    assert!(page.contains("pop3\\-fetch(1)"), "{page}");
    assert!(page.contains("Exit codes"), "{page}");
    let out = pop3(&["man", "fetch"], None);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        stdout(&out).contains(".TH pop3-fetch 1"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("maildir"));
    assert_eq!(code(&pop3(&["man", "no-such-command"], None)), 2);
    let dir = tempfile::tempdir().unwrap();
    let out = pop3(&["man", "--out-dir", dir.path().to_str().unwrap()], None);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let mut pages: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    assert!(pages.contains(&"pop3.1".to_owned()), "{pages:?}");
    for command in ["capa", "stat", "list", "fetch", "dele", "bench", "demo"] {
        assert!(
            pages.contains(&format!("pop3-{command}.1")),
            "{command}: {pages:?}"
        );
    }
    assert!(!pages.iter().any(|p| p.contains("help")), "{pages:?}");
}
