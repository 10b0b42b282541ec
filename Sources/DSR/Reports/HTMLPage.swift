/// What dsrd's HTML documents (the register, the monthly report) share: escaping and one
/// self-contained page shape: UTF-8 declared first, inline CSS, no scripts, no external
/// resources, readable printed on A4.
enum HTMLPage {
    /// `&`, `<`, `>`, `"` and `'` as entities: safe in text and in quoted attributes.
    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    /// A whole document: `body` is HTML already escaped; `title` and `lang` are escaped here.
    static func document(title: String, lang: String, landscape: Bool, extraStyle: String = "", body: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="\(escape(lang))">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(escape(title))</title>
        <style>
        \(style)
        @page { size: A4 \(landscape ? "landscape" : "portrait"); margin: 12mm; }
        \(extraStyle)
        </style>
        </head>
        <body>
        \(body)
        </body>
        </html>

        """
    }

    private static let style = """
        body { font-family: "Sarabun", "Noto Sans Thai", "Leelawadee UI", "Tahoma", sans-serif; color: #1a1a1a; margin: 2rem; line-height: 1.45; }
        h1 { font-size: 1.5rem; margin: 0 0 .25rem; }
        h2 { font-size: 1.15rem; margin: 2rem 0 .5rem; border-bottom: 1px solid #ccc; padding-bottom: .2rem; }
        p.meta { color: #555; margin: .1rem 0; }
        table { border-collapse: collapse; width: 100%; margin: .5rem 0 1rem; font-size: .9rem; }
        table.summary { width: auto; min-width: 60%; }
        th, td { border: 1px solid #bbb; padding: .35rem .5rem; text-align: left; vertical-align: top; }
        th { background: #eef1f5; }
        td.number, th.number { text-align: right; font-variant-numeric: tabular-nums; }
        ul { margin: 0; padding-left: 1.1rem; }
        .missing { color: #a40000; font-weight: bold; }
        .note { color: #555; font-size: .85rem; }
        svg { max-width: 100%; height: auto; }
        @media print { body { margin: 0; } h2 { break-after: avoid; } tr, svg { break-inside: avoid; } }
        """
}
