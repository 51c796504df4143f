//! The worst inputs for a parser, shared by the security tests and `cargo xtask bench api`.

/// A Service whose `spec` is `[[[…]]]`, `depth` deep (200 KB at 100,000).
pub fn nesting_bomb(depth: usize) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: bomb\nspec: {}{}\n",
        "[".repeat(depth),
        "]".repeat(depth)
    )
}

/// The same in JSON.
pub fn json_bomb(depth: usize) -> String {
    format!("{{\"a\":{}{}}}", "[".repeat(depth), "]".repeat(depth))
}

/// "Billion laughs": ten levels of aliases, each ten of the level below (10^10 nodes expanded).
pub fn alias_bomb() -> String {
    let mut bomb =
        String::from("apiVersion: v1\nkind: Service\nmetadata:\n  name: bomb\na: &a [x,x,x,x,x,x,x,x,x,x]\n");
    for i in 1..10u8 {
        let (this, prev) = ((b'a' + i) as char, (b'a' + i - 1) as char);
        bomb.push_str(&format!("{this}: &{this} [{}]\n", vec![format!("*{prev}"); 10].join(",")));
    }
    bomb
}
