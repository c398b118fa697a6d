//! Plain-text tables for stdout: the one renderer every command's table goes through.

/// Render `header` and `rows` as left-aligned columns two spaces apart, one line each, with no
/// trailing blanks. Widths count characters, not bytes, so a non-ASCII reference or user name
/// does not shift the columns after it. A row shorter than the header leaves its last columns
/// empty; cells past the header's width are ignored.
pub(crate) fn render<S: AsRef<str>>(header: &[&str], rows: &[Vec<S>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.as_ref().chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.zip(&widths).enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            s.push_str(cell);
            let pad = w.saturating_sub(cell.chars().count());
            s.extend(std::iter::repeat_n(' ', pad));
        }
        out.push_str(s.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(AsRef::as_ref));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn columns_align_by_characters() {
        let rows = vec![
            vec!["réseau.example/app:1", "pushed"],
            vec!["r/x:1", "failed"],
        ];
        let t = render(&["TARGET", "STATUS"], &rows);
        assert_eq!(
            t,
            "TARGET                STATUS\n\
             réseau.example/app:1  pushed\n\
             r/x:1                 failed\n"
        );
    }

    #[test]
    fn no_trailing_blanks_and_short_rows() {
        let t = render(&["A", "B"], &[vec!["long cell", ""], vec!["x"]]);
        assert_eq!(t, "A          B\nlong cell\nx\n");
    }
}
