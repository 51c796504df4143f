//! The parser against scripts as tutorials and entrypoints write them.

use super::*;

fn simple(c: &Command) -> &Simple {
    match c {
        Command::Simple(s) => s,
        other => panic!("not a simple command: {other:?}"),
    }
}

#[test]
fn compound_commands_parse() {
    let s = parse("if test -f /x; then echo a; elif false; then echo b; else echo c; fi").unwrap();
    let Command::If { branches, otherwise } = &s.0[0].first.commands[0] else { panic!() };
    assert_eq!((branches.len(), otherwise.is_some()), (2, true));
    let s = parse("while true\ndo\n  sleep 1\ndone | head -n 1").unwrap();
    assert!(matches!(s.0[0].first.commands[0], Command::While { until: false, .. }));
    assert_eq!(s.0[0].first.commands.len(), 2);
    let s = parse("for i in a b; do echo $i; done; echo done").unwrap();
    assert!(
        matches!(&s.0[0].first.commands[0], Command::For { var, words: Some(words), .. } if var == "i" && words.len() == 2)
    );
    assert_eq!(s.0.len(), 2, "`done` as an argument is a plain word");
    assert_eq!(
        parse("if true; then echo").unwrap_err().to_string(),
        "syntax error: unexpected end of file (expecting \"fi\")"
    );
    assert_eq!(parse("then").unwrap_err().to_string(), "syntax error: unexpected \"then\"");
    let deep = "if true; then ".repeat(200) + &"fi; ".repeat(200);
    assert_eq!(parse(&deep).unwrap_err().to_string(), "syntax error: compound commands nested too deeply");
}

fn lit(s: &str) -> Word {
    vec![Part::Lit(s.into())]
}

#[test]
fn quoting_and_variables_tokenize() {
    let script = parse("echo 'a b' \"x $HOME y\" $? ${PATH}z").unwrap();
    let words = &simple(&script.0[0].first.commands[0]).words;
    assert_eq!(words[0], lit("echo"));
    assert_eq!(words[1], lit("a b"));
    assert_eq!(
        words[2],
        vec![Part::Lit("x ".into()), Part::Var { name: "HOME".into(), quoted: true }, Part::Lit(" y".into())]
    );
    assert_eq!(words[3], vec![Part::Var { name: "?".into(), quoted: false }]);
    assert_eq!(words[4], vec![Part::Var { name: "PATH".into(), quoted: false }, Part::Lit("z".into())]);
}

#[test]
fn lists_pipelines_and_redirections_parse() {
    let script = parse("a && b || c; ! d | e > f 2>&1; X=1 g < h").unwrap();
    assert_eq!(script.0.len(), 3);
    assert_eq!(script.0[0].rest.len(), 2);
    assert!(script.0[0].rest[0].0 && !script.0[0].rest[1].0);
    let p = &script.0[1].first;
    assert!(p.negate);
    assert_eq!(p.commands.len(), 2);
    assert_eq!(simple(&p.commands[1]).redirs.len(), 2);
    assert_eq!(simple(&p.commands[1]).redirs[1].kind, RedirKind::Dup(1));
    assert_eq!(simple(&script.0[2].first.commands[0]).assigns, [("X".to_string(), lit("1"))]);
    assert_eq!(simple(&script.0[2].first.commands[0]).redirs[0].kind, RedirKind::In);
    let s = parse("echo ${A:-x y}").unwrap();
    let default = Part::Param {
        name: "A".into(),
        op: super::super::lex::ParamOp::Default { colon: true },
        word: "x y".into(),
        quoted: false,
    };
    assert_eq!(simple(&s.0[0].first.commands[0]).words[1], vec![default]);
    let s = parse("echo $(hostname -i) x").unwrap();
    assert_eq!(
        simple(&s.0[0].first.commands[0]).words[1],
        vec![Part::Subst { script: "hostname -i".into(), quoted: false }]
    );
}

#[test]
fn syntax_errors_say_what_was_unexpected() {
    assert_eq!(parse("| a").unwrap_err().to_string(), "syntax error: unexpected \"|\"");
    assert_eq!(parse("a &&").unwrap_err().to_string(), "syntax error: unexpected end of file");
    assert_eq!(parse("echo 'x").unwrap_err().to_string(), "syntax error: unterminated quoted string");
    assert_eq!(parse("a >").unwrap_err().to_string(), "syntax error: unexpected end of file");
    assert!(parse("# only a comment\n").unwrap().0.is_empty());
    assert_eq!(parse("a ;; b").unwrap_err().to_string(), "syntax error: unexpected \";;\"");
    assert_eq!(
        parse("case x in a) b").unwrap_err().to_string(),
        "syntax error: unexpected end of file (expecting \"esac\")"
    );
}

#[test]
fn braced_parameters_parse_their_operators() {
    use super::super::lex::ParamOp;
    let param = |src: &str| simple(&parse(src).unwrap().0[0].first.commands[0]).words[1][0].clone();
    let op = |src: &str| match param(src) {
        Part::Param { op, word, .. } => (op, word),
        other => panic!("{other:?}"),
    };
    assert_eq!(op("echo ${HOSTNAME##*-}"), (ParamOp::TrimPrefix { longest: true }, "*-".into()));
    assert_eq!(op("echo ${f%.txt}"), (ParamOp::TrimSuffix { longest: false }, ".txt".into()));
    assert_eq!(op("echo ${x:=3}"), (ParamOp::Assign { colon: true }, "3".into()));
    assert_eq!(op("echo ${x+set}"), (ParamOp::Alternative { colon: false }, "set".into()));
    assert_eq!(op("echo ${#name}"), (ParamOp::Length, String::new()));
    assert_eq!(op("echo ${1:?missing}"), (ParamOp::Error { colon: true }, "missing".into()));
    assert_eq!(param("echo ${10}"), Part::Var { name: "10".into(), quoted: false });
    assert_eq!(parse("echo ${x!y}").unwrap_err().to_string(), "${x!y}: bad substitution");
}

#[test]
fn functions_and_groups_parse() {
    let script = parse("f() { echo a; }\ng ()\n{ echo b; }; { f; g; }").unwrap();
    let names: Vec<&str> = script
        .0
        .iter()
        .filter_map(|l| match &l.first.commands[0] {
            Command::Function { name, .. } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(names, ["f", "g"]);
    assert!(matches!(&script.0[2].first.commands[0], Command::Group(body) if body.0.len() == 2));
    assert_eq!(parse("{ echo a").unwrap_err().to_string(), "syntax error: unexpected end of file (expecting \"}\")");
    assert_eq!(parse("echo }").unwrap().0.len(), 1, "a brace is a word where no command starts");
}

#[test]
fn subshells_parse_and_parentheses_end_case_patterns() {
    let script = parse("(cd /tmp; ls) > out | wc -l; case a in (a|b) x;; c ) y;; esac").unwrap();
    let first = &script.0[0].first.commands;
    assert!(
        matches!(&first[0], Command::Redirected { command, .. } if matches!(**command, Command::Subshell(ref b) if b.0.len() == 2))
    );
    assert_eq!(first.len(), 2, "a subshell in a pipe");
    assert!(
        matches!(&script.0[1].first.commands[0], Command::Case { branches, .. } if branches.len() == 2 && branches[0].0.len() == 2)
    );
    assert_eq!(parse("(echo a").unwrap_err().to_string(), "syntax error: unexpected end of file (expecting \")\")");
    assert_eq!(parse("echo a)").unwrap_err().to_string(), "syntax error: unexpected \")\"");
}

#[test]
fn here_documents_take_the_lines_up_to_their_word() {
    let script = parse("cat <<END >out; echo after\nline $x\nEND\ncat <<\"Q\"\n$raw\nQ\n").unwrap();
    let here = |i: usize| simple(&script.0[i].first.commands[0]).redirs[0].kind.clone();
    assert_eq!(here(0), RedirKind::Here { body: "line $x\n".into(), expand: true });
    assert_eq!(simple(&script.0[0].first.commands[0]).redirs[1].kind, RedirKind::Out { append: false });
    assert_eq!(simple(&script.0[1].first.commands[0]).words[0], lit("echo"));
    assert_eq!(here(2), RedirKind::Here { body: "$raw\n".into(), expand: false });
    assert_eq!(script.0.len(), 3, "the bodies are not commands");
}

#[test]
fn case_branches_parse() {
    let script =
        parse("case $x in\n  start|run) echo go ;;\n  (stop) echo halt; exit 1 ;;\n  *) echo what\nesac").unwrap();
    let Command::Case { word, branches } = &script.0[0].first.commands[0] else { panic!("{script:?}") };
    assert_eq!(word, &vec![Part::Var { name: "x".into(), quoted: false }]);
    let patterns: Vec<Vec<Word>> = branches.iter().map(|(p, _)| p.clone()).collect();
    assert_eq!(patterns, [vec![lit("start"), lit("run")], vec![lit("stop")], vec![lit("*")]]);
    assert_eq!(branches[1].1.0.len(), 2, "two commands in the second branch");
    // The last branch may leave out its `;;`; an empty case is a case.
    assert!(parse("case x in esac").is_ok());
}
