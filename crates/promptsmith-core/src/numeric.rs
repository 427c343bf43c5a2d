//! Finding numbers in free text: `$1,234.50`, `18.`, `-3`, `3/4`, `\frac{3}{4}`, `1.5e3`, `50%`.

/// A number found in text, with its byte span.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FoundNumber {
    /// The value.
    pub value: f64,
    /// Byte offset where it starts (the sign, when there is one).
    pub start: usize,
    /// Byte offset just past its end.
    pub end: usize,
}

const CURRENCY: &[char] = &['$', '€', '£', '¥', '₹'];
const SIGNS: &[char] = &['-', '+', '−'];

/// Rewrites LaTeX number forms into plain text: `\frac{a}{b}` (also `\dfrac`, `\tfrac`) becomes
/// `a/b`, `{,}` becomes `,` and the thin-space `\!` is dropped.
fn delatex(text: &str) -> String {
    let mut out = text.replace("{,}", ",").replace("\\!", "");
    for command in ["\\dfrac", "\\tfrac", "\\frac"] {
        while let Some(at) = out.find(command) {
            let rest = &out[at + command.len()..];
            match braced_pair(rest) {
                Some((num, den, used)) => {
                    let replacement = format!("{}/{}", num.trim(), den.trim());
                    out = format!("{}{}{}", &out[..at], replacement, &rest[used..]);
                }
                None => {
                    // Not a well-formed \frac{..}{..}: drop the command name and go on.
                    out = format!("{}{}", &out[..at], rest);
                }
            }
        }
    }
    out
}

/// Parses `{a}{b}` (no nesting) at the start of `s`; returns both contents and the bytes used.
fn braced_pair(s: &str) -> Option<(&str, &str, usize)> {
    let s1 = s.strip_prefix('{')?;
    let close1 = s1.find('}')?;
    let a = &s1[..close1];
    let s2 = s1[close1 + 1..].strip_prefix('{')?;
    let close2 = s2.find('}')?;
    let b = &s2[..close2];
    if a.contains('{') || b.contains('{') {
        return None;
    }
    Some((a, b, 1 + close1 + 1 + 1 + close2 + 1))
}

/// All numbers in `text`, in order. Thousands separators (`1,234,567`) are read as part of the
/// number only when every group after the first has exactly three digits; a sentence-final `.` is
/// not a decimal point; `a/b` of integers is a fraction; a `-` directly after a letter or digit
/// (`3-4`, `COVID-19`) is a hyphen, not a sign.
pub fn find_numbers(text: &str) -> Vec<FoundNumber> {
    let text = delatex(text);
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let byte_at = |i: usize| chars.get(i).map(|(b, _)| *b).unwrap_or(text.len());
    let ch = |i: usize| chars.get(i).map(|(_, c)| *c);
    let is_digit = |i: usize| ch(i).is_some_and(|c| c.is_ascii_digit());
    let mut found = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let starts_number = is_digit(i)
            || (ch(i) == Some('.') && is_digit(i + 1) && !(i > 0 && ch(i - 1).is_some_and(|c| c.is_alphanumeric())));
        if !starts_number {
            i += 1;
            continue;
        }
        let start = i;
        let mut digits = String::new();
        // Integer part, with optional thousands groups.
        let mut int_len = 0;
        while is_digit(i) {
            digits.push(chars[i].1);
            i += 1;
            int_len += 1;
        }
        if int_len > 0 && int_len <= 3 {
            while ch(i) == Some(',') && (1..=3).all(|k| is_digit(i + k)) && !is_digit(i + 4) {
                for k in 1..=3 {
                    digits.push(chars[i + k].1);
                }
                i += 4;
            }
        }
        // Decimal part.
        if ch(i) == Some('.') && is_digit(i + 1) {
            digits.push('.');
            i += 1;
            while is_digit(i) {
                digits.push(chars[i].1);
                i += 1;
            }
        }
        // Exponent.
        if matches!(ch(i), Some('e' | 'E')) {
            let sign = usize::from(matches!(ch(i + 1), Some('+' | '-')));
            if is_digit(i + 1 + sign) && int_len > 0 {
                digits.push('e');
                if sign == 1 {
                    digits.push(chars[i + 1].1);
                }
                i += 1 + sign;
                while is_digit(i) {
                    digits.push(chars[i].1);
                    i += 1;
                }
            }
        }
        let Ok(mut value) = digits.parse::<f64>() else { continue };
        // Fraction a/b (integers only, optional spaces around the slash).
        if !digits.contains(['.', 'e']) {
            let mut j = i;
            while ch(j) == Some(' ') {
                j += 1;
            }
            if ch(j) == Some('/') {
                j += 1;
                while ch(j) == Some(' ') {
                    j += 1;
                }
                let den_start = j;
                while is_digit(j) {
                    j += 1;
                }
                let den: String = chars[den_start..j].iter().map(|(_, c)| *c).collect();
                let followed_by_decimal = ch(j) == Some('.') && is_digit(j + 1);
                if let Ok(den) = den.parse::<f64>() {
                    if den != 0.0 && !followed_by_decimal {
                        value /= den;
                        i = j;
                    }
                }
            }
        }
        // Sign: directly before the number, or before a currency symbol that is directly before it.
        let mut sign_at = None;
        if start > 0 {
            let before = start - 1;
            if ch(before).is_some_and(|c| SIGNS.contains(&c)) {
                sign_at = Some(before);
            } else if before > 0
                && ch(before).is_some_and(|c| CURRENCY.contains(&c))
                && ch(before - 1).is_some_and(|c| SIGNS.contains(&c))
            {
                sign_at = Some(before - 1);
            }
        }
        let sign_at = sign_at.filter(|&s| !(s > 0 && ch(s - 1).is_some_and(|c| c.is_alphanumeric() || c == ')')));
        let mut begin = start;
        if let Some(s) = sign_at {
            if matches!(ch(s), Some('-' | '−')) {
                value = -value;
            }
            begin = s;
        }
        found.push(FoundNumber { value, start: byte_at(begin), end: byte_at(i) });
    }
    found
}

/// The last number in `text`, if any.
pub fn last_number(text: &str) -> Option<f64> {
    find_numbers(text).last().map(|n| n.value)
}

/// Whether two numbers are equal within a relative tolerance (exact equality always counts).
pub fn numbers_match(a: f64, b: f64, rel_tol: f64) -> bool {
    a == b || (a - b).abs() <= rel_tol * a.abs().max(b.abs())
}

/// Formats a number for feedback: integers without a decimal point, others in shortest form.
pub fn format_number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &str) -> Vec<f64> {
        find_numbers(text).into_iter().map(|n| n.value).collect()
    }

    #[test]
    fn plain_and_formatted_numbers() {
        assert_eq!(all("18"), vec![18.0]);
        assert_eq!(all("18."), vec![18.0]);
        assert_eq!(all("The answer is 18."), vec![18.0]);
        assert_eq!(all("$1,234.50"), vec![1234.5]);
        assert_eq!(all("1,234,567 people"), vec![1_234_567.0]);
        assert_eq!(all("0.5 and .25"), vec![0.5, 0.25]);
        assert_eq!(all("1.5e3"), vec![1500.0]);
        assert_eq!(all("2E-2"), vec![0.02]);
        assert_eq!(all("50%"), vec![50.0]);
        assert_eq!(all("18.00"), vec![18.0]);
        assert_eq!(all("007"), vec![7.0]);
    }

    #[test]
    fn commas_that_are_not_thousands_separators() {
        assert_eq!(all("1,2,3"), vec![1.0, 2.0, 3.0]);
        assert_eq!(all("1,23"), vec![1.0, 23.0]);
        assert_eq!(all("1234,567"), vec![1234.0, 567.0]);
        assert_eq!(all("1,2345"), vec![1.0, 2345.0]);
        assert_eq!(all("5, 6"), vec![5.0, 6.0]);
    }

    #[test]
    fn signs_and_hyphens() {
        assert_eq!(all("-5"), vec![-5.0]);
        assert_eq!(all("it is -5 degrees"), vec![-5.0]);
        assert_eq!(all("−7"), vec![-7.0]);
        assert_eq!(all("-$5.25"), vec![-5.25]);
        assert_eq!(all("$-5"), vec![-5.0]);
        assert_eq!(all("x=-4"), vec![-4.0]);
        assert_eq!(all("(-4)"), vec![-4.0]);
        assert_eq!(all("+3"), vec![3.0]);
        assert_eq!(all("3-4"), vec![3.0, 4.0]);
        assert_eq!(all("10 - 4 = 6"), vec![10.0, 4.0, 6.0]);
        assert_eq!(all("COVID-19"), vec![19.0]);
        assert_eq!(all("(2)-3"), vec![2.0, 3.0]);
    }

    #[test]
    fn fractions() {
        assert_eq!(all("3/4"), vec![0.75]);
        assert_eq!(all("-3/4"), vec![-0.75]);
        assert_eq!(all("1 / 8 of it"), vec![0.125]);
        assert_eq!(all("\\frac{3}{4}"), vec![0.75]);
        assert_eq!(all("\\boxed{\\dfrac{1}{2}}"), vec![0.5]);
        assert_eq!(all("x/0"), vec![0.0]);
        assert_eq!(all("5/0"), vec![5.0, 0.0]);
        assert_eq!(all("60 km/h"), vec![60.0]);
        assert_eq!(all("1.5/3"), vec![1.5, 3.0]);
        assert_eq!(all("1/2.5"), vec![1.0, 2.5]);
    }

    #[test]
    fn latex_and_text() {
        assert_eq!(all("\\boxed{1{,}000}"), vec![1000.0]);
        assert_eq!(all("1,\\!000"), vec![1000.0]);
        assert_eq!(all("no numbers here"), Vec::<f64>::new());
        assert_eq!(all(""), Vec::<f64>::new());
        assert_eq!(all("version 1.2.3"), vec![1.2, 3.0]);
        assert_eq!(all("3em"), vec![3.0]);
        assert_eq!(last_number("She makes 9 * 2 = $18 every day. #### 18"), Some(18.0));
        assert_eq!(last_number("Step 1: 5 apples. Step 2: 12"), Some(12.0));
        assert_eq!(last_number("none"), None);
        assert_eq!(all("é5ü"), vec![5.0]);
    }

    #[test]
    fn spans_point_into_the_text() {
        let text = "pay -$5 now";
        let n = find_numbers(text)[0];
        assert_eq!(&text[n.start..n.end], "-$5");
    }

    #[test]
    fn tolerance_and_formatting() {
        assert!(numbers_match(18.0, 18.0, 1e-6));
        assert!(numbers_match(1.0 / 3.0, 0.3333333, 1e-6));
        assert!(!numbers_match(0.3333, 1.0 / 3.0, 1e-6));
        assert!(numbers_match(1e9, 1e9 + 1.0, 1e-6));
        assert!(!numbers_match(0.0, 1e-12, 1e-6));
        assert!(numbers_match(0.0, -0.0, 1e-6));
        assert_eq!(format_number(18.0), "18");
        assert_eq!(format_number(-2.5), "-2.5");
        assert_eq!(format_number(0.1 + 0.2), "0.30000000000000004");
    }
}
