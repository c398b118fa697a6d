//! Plain-text tables for stdout: the one renderer every command's table goes through.

/// Render `header` and `rows` as left-aligned columns two spaces apart, one line each, with no
/// trailing blanks. Widths count characters, not bytes, so a non-ASCII reference or user name
/// does not shift the columns after it. A row shorter than the header leaves its last columns
/// empty; cells past the header's width are ignored.
pub(crate) fn render<S: AsRef<str>>(header: &[&str], rows: &[Vec<S>]) -> String {
    render_fitted(header, rows, usize::MAX, 0)
}

/// [`render`] in at most `max_width` characters a line: when the columns do not fit, the
/// cells of column `shrink` lose their middle (`…`), down to the width of its header. The other
/// columns are kept whole, so a table whose other columns alone are too wide stays too wide.
pub(crate) fn render_fitted<S: AsRef<str>>(
    header: &[&str],
    rows: &[Vec<S>],
    max_width: usize,
    shrink: usize,
) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.as_ref().chars().count());
        }
    }
    let total = widths.iter().sum::<usize>() + 2 * widths.len().saturating_sub(1);
    let excess = total.saturating_sub(max_width);
    if excess > 0 && shrink < widths.len() {
        let floor = header[shrink].chars().count();
        widths[shrink] = widths[shrink].saturating_sub(excess).max(floor);
    }
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            row.iter()
                .enumerate()
                .map(|(i, c)| match widths.get(i) {
                    Some(w) if i == shrink => truncate_middle(c.as_ref(), *w),
                    _ => c.as_ref().to_string(),
                })
                .collect()
        })
        .collect();
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

/// `s` in at most `max` characters, its middle replaced by `…` when it is longer: both ends of
/// a reference (registry and tag) say the most.
pub(crate) fn truncate_middle(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let keep = max - 1;
    let head = keep.div_ceil(2);
    let tail = keep - head;
    let mut out: String = s.chars().take(head).collect();
    out.push('…');
    out.extend(s.chars().skip(n - tail));
    out
}

#[cfg(test)]
mod tests {
    use super::{render, render_fitted, truncate_middle};

    #[test]
    fn a_long_column_loses_its_middle_to_fit() {
        let long = "registry.example.com:5000/team/a-very-long-repository-name/with/parts:2.3.0";
        let rows = vec![vec![long, "pushed"], vec!["r/x:1", "failed"]];
        let t = render_fitted(&["TARGET", "STATUS"], &rows, 40, 0);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines.iter().all(|l| l.chars().count() <= 40), "{t}");
        assert_eq!(lines[1], "registry.example…ith/parts:2.3.0  pushed", "{t}");
        assert_eq!(lines[2], "r/x:1                             failed", "{t}");
        // Wide enough: nothing changes.
        assert_eq!(
            render_fitted(&["TARGET", "STATUS"], &rows, 200, 0),
            render(&["TARGET", "STATUS"], &rows)
        );
        assert_eq!(truncate_middle("abcdefgh", 5), "ab…gh");
        assert_eq!(truncate_middle("abc", 0), "");
    }

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
