//! Command-line arguments as text: both binaries take theirs through here.

use std::ffi::OsString;

/// The arguments as UTF-8 strings, or a one-line message naming the first that is not
/// (1-based, as the user counts them). `std::env::args()` would panic on such an argument.
pub(crate) fn utf8(args: impl IntoIterator<Item = OsString>) -> Result<Vec<String>, String> {
    args.into_iter()
        .enumerate()
        .map(|(i, arg)| {
            arg.into_string().map_err(|arg| {
                let shown = arg.to_string_lossy();
                format!("argument {} is not valid UTF-8: {shown:?}", i + 1)
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::utf8;
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;

    #[test]
    fn text_arguments_pass_and_the_first_bad_one_is_named() {
        let ok = utf8(["a", "é"].map(OsString::from)).unwrap();
        assert_eq!(ok, ["a", "é"]);
        let bad = utf8([
            OsString::from("push"),
            OsString::from_vec(b"r\xe9g".to_vec()),
            OsString::from_vec(vec![0xff]),
        ])
        .unwrap_err();
        assert_eq!(bad, "argument 2 is not valid UTF-8: \"r\u{FFFD}g\"");
        assert!(!bad.contains('\n'));
    }
}
