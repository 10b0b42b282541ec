extension ProcessingRegister {
    /// The register as CSV (RFC 4180: CRLF, fields quoted when they hold a comma, quote or
    /// line break), headings and words in `locale`, lists joined by "; ". It starts with a
    /// UTF-8 byte order mark so that spreadsheet programs read the Thai text as UTF-8.
    public func csv(locale: String) -> String {
        var lines = [Column.allCases.map { Self.csvField(RegisterWords.heading($0, locale: locale)) }.joined(separator: ",")]
        for entry in entries {
            lines.append(Column.allCases.map { Self.csvField(entry.text($0, locale: locale)) }.joined(separator: ","))
        }
        return "\u{FEFF}" + lines.joined(separator: "\r\n") + "\r\n"
    }

    static func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0.isNewline }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
