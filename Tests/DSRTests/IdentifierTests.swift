import DSRTestSupport
import Foundation
import Postgres
import TestSupport
import Testing

@testable import DSR

/// Identifier normalisation: the SQL functions (migrations 0002 and 0007), their Swift twins
/// (`IdentifierNormalizer`, `Punycode`) and the store-side lookup expressions must give the
/// same value for the same input, or a person given in one form is missed in a store that
/// holds another.
@Suite("Identifier normalisation")
struct IdentifierTests {
    /// RFC 3492 section 7.1 samples: (Unicode, our encoding with digits in lower case, the
    /// RFC's text, which uses upper-case digits in (I) and keeps basic characters' case).
    /// Cross-checked with Python's `encodings.punycode`.
    static let rfcSamples: [(String, String, String)] = [
        (
            "\u{0644}\u{064A}\u{0647}\u{0645}\u{0627}\u{0628}\u{062A}\u{0643}\u{0644}\u{0645}\u{0648}\u{0634}\u{0639}\u{0631}\u{0628}\u{064A}\u{061F}",
            "egbpdaj6bu4bxfgehfvwxn", "egbpdaj6bu4bxfgehfvwxn"
        ),
        (
            "\u{4ED6}\u{4EEC}\u{4E3A}\u{4EC0}\u{4E48}\u{4E0D}\u{8BF4}\u{4E2D}\u{6587}", "ihqwcrb4cv8a8dqg056pqjye",
            "ihqwcrb4cv8a8dqg056pqjye"
        ),
        (
            "\u{4ED6}\u{5011}\u{7232}\u{4EC0}\u{9EBD}\u{4E0D}\u{8AAA}\u{4E2D}\u{6587}", "ihqwctvzc91f659drss3x8bo0yb",
            "ihqwctvzc91f659drss3x8bo0yb"
        ),
        ("Pro\u{010D}prost\u{011B}nemluv\u{00ED}\u{010D}esky", "Proprostnemluvesky-uyb24dma41a", "Proprostnemluvesky-uyb24dma41a"),
        (
            "\u{05DC}\u{05DE}\u{05D4}\u{05D4}\u{05DD}\u{05E4}\u{05E9}\u{05D5}\u{05D8}\u{05DC}\u{05D0}\u{05DE}\u{05D3}\u{05D1}\u{05E8}\u{05D9}\u{05DD}\u{05E2}\u{05D1}\u{05E8}\u{05D9}\u{05EA}",
            "4dbcagdahymbxekheh6e0a7fei0b", "4dbcagdahymbxekheh6e0a7fei0b"
        ),
        (
            "\u{092F}\u{0939}\u{0932}\u{094B}\u{0917}\u{0939}\u{093F}\u{0928}\u{094D}\u{0926}\u{0940}\u{0915}\u{094D}\u{092F}\u{094B}\u{0902}\u{0928}\u{0939}\u{0940}\u{0902}\u{092C}\u{094B}\u{0932}\u{0938}\u{0915}\u{0924}\u{0947}\u{0939}\u{0948}\u{0902}",
            "i1baa7eci9glrd9b2ae1bj0hfcgg6iyaf8o0a1dig0cd", "i1baa7eci9glrd9b2ae1bj0hfcgg6iyaf8o0a1dig0cd"
        ),
        (
            "\u{306A}\u{305C}\u{307F}\u{3093}\u{306A}\u{65E5}\u{672C}\u{8A9E}\u{3092}\u{8A71}\u{3057}\u{3066}\u{304F}\u{308C}\u{306A}\u{3044}\u{306E}\u{304B}",
            "n8jok5ay5dzabd5bym9f0cm5685rrjetr6pdxa", "n8jok5ay5dzabd5bym9f0cm5685rrjetr6pdxa"
        ),
        (
            "\u{C138}\u{ACC4}\u{C758}\u{BAA8}\u{B4E0}\u{C0AC}\u{B78C}\u{B4E4}\u{C774}\u{D55C}\u{AD6D}\u{C5B4}\u{B97C}\u{C774}\u{D574}\u{D55C}\u{B2E4}\u{BA74}\u{C5BC}\u{B9C8}\u{B098}\u{C88B}\u{C744}\u{AE4C}",
            "989aomsvi5e83db1d2a355cv1e0vak1dwrv93d5xbh15a0dt30a5jpsd879ccm6fea98c",
            "989aomsvi5e83db1d2a355cv1e0vak1dwrv93d5xbh15a0dt30a5jpsd879ccm6fea98c"
        ),
        (
            "\u{043F}\u{043E}\u{0447}\u{0435}\u{043C}\u{0443}\u{0436}\u{0435}\u{043E}\u{043D}\u{0438}\u{043D}\u{0435}\u{0433}\u{043E}\u{0432}\u{043E}\u{0440}\u{044F}\u{0442}\u{043F}\u{043E}\u{0440}\u{0443}\u{0441}\u{0441}\u{043A}\u{0438}",
            "b1abfaaepdrnnbgefbadotcwatmq2g4l", "b1abfaaepdrnnbgefbaDotcwatmq2g4l"
        ),
        (
            "Porqu\u{00E9}nopuedensimplementehablarenEspa\u{00F1}ol", "PorqunopuedensimplementehablarenEspaol-fmd56a",
            "PorqunopuedensimplementehablarenEspaol-fmd56a"
        ),
        (
            "T\u{1EA1}isaoh\u{1ECD}kh\u{00F4}ngth\u{1EC3}ch\u{1EC9}n\u{00F3}iti\u{1EBF}ngVi\u{1EC7}t",
            "TisaohkhngthchnitingVit-kjcr8268qyxafd2f1b9g", "TisaohkhngthchnitingVit-kjcr8268qyxafd2f1b9g"
        ),
        ("3\u{5E74}B\u{7D44}\u{91D1}\u{516B}\u{5148}\u{751F}", "3B-ww4c5e180e575a65lsy2b", "3B-ww4c5e180e575a65lsy2b"),
        (
            "\u{5B89}\u{5BA4}\u{5948}\u{7F8E}\u{6075}-with-SUPER-MONKEYS", "-with-SUPER-MONKEYS-pc58ag80a8qai00g7n9n",
            "-with-SUPER-MONKEYS-pc58ag80a8qai00g7n9n"
        ),
        (
            "Hello-Another-Way-\u{305D}\u{308C}\u{305E}\u{308C}\u{306E}\u{5834}\u{6240}", "Hello-Another-Way--fc4qua05auwb3674vfr0b",
            "Hello-Another-Way--fc4qua05auwb3674vfr0b"
        ),
        ("\u{3072}\u{3068}\u{3064}\u{5C4B}\u{6839}\u{306E}\u{4E0B}2", "2-u9tlzr9756bt3uc0v", "2-u9tlzr9756bt3uc0v"),
        ("Maji\u{3067}Koi\u{3059}\u{308B}5\u{79D2}\u{524D}", "MajiKoi5-783gue6qz075azm5e", "MajiKoi5-783gue6qz075azm5e"),
        ("\u{30D1}\u{30D5}\u{30A3}\u{30FC}de\u{30EB}\u{30F3}\u{30D0}", "de-jg4avhby1noc0d", "de-jg4avhby1noc0d"),
        ("\u{305D}\u{306E}\u{30B9}\u{30D4}\u{30FC}\u{30C9}\u{3067}", "d9juau41awczczp", "d9juau41awczczp"),
        ("-> $1.00 <-", "-> $1.00 <--", "-> $1.00 <--"),
    ]

    /// Thai labels and their Punycode (Python: `encodings.punycode.punycode_encode`, and
    /// `"ตัวอย่าง.ไทย".encode("idna") == b"xn--72c1a1bt4awk9o.xn--o3cw4h"`).
    static let thaiLabels: [(String, String)] = [
        ("ตัวอย่าง", "72c1a1bt4awk9o"), ("ไทย", "o3cw4h"), ("สมาร์ทเทค", "42c1ba2bk4b5c8fse"), ("หพนง", "72c9ao5c"),
        ("ผู้ใช้", "b3c9a5etb3ac"), ("bücher", "bcher-kva"), ("日本", "wgv71a"), ("", ""), ("ab", "ab-"),
    ]

    /// Not Punycode: a character that is no digit, a truncated or overflowing number, a
    /// non-ASCII basic part, a leading delimiter with nothing before it.
    static let invalidPunycode = ["99zz", "zzzzzzzzzzzzzzzzzzzz", "ü-abc", "-abc", "abc!", "a-b%"]

    static let phones = [
        // The cases from before Thai digits.
        "081-234-5678", "+66812345678", "66812345678", "+66 (0)81 234 5678", "02-444-3044", "024443044", "+1 415 555 0123",
        "12345", "0812345678901", "+660812345678", "phone", "", "+0123456789", "0012345678",
        "0066812345678", "0066 (0)81 234 5678", "001 415 555 0123", "000812345678", "00", "+00",
        // Thai, fullwidth and mixed digits.
        "๐๘๑-๒๓๔-๕๖๗๘", "๐๘๑๒๓๔๕๖๗๘", "+๖๖ ๘๑ ๒๓๔ ๕๖๗๘", "๖๖๘๑๒๓๔๕๖๗๘", "(๐๘๑) ๒๓๔-๕๖๗๘", "๐๒-๔๔๔-๓๐๔๔",
        "０８１-２３４-５６７８", "＋６６８１２３４５６７８", "０８１－２３４－５６７８", "081-๒๓๔-５６７８", "+๑ ๔๑๕ ๕๕๕ ๐๑๒๓",
        "๐๐๑๒๓๔๕๖๗๘", "٠٨١٢٣٤٥٦٧٨", "๐๘๑๒๓๔๕๖๗๘๙๐๑",
        // The 40-character guard, on code points.
        "081-234-5678" + String(repeating: " ", count: 28), "081-234-5678" + String(repeating: " ", count: 29),
        "๐๘๑-๒๓๔-๕๖๗๘" + String(repeating: " ", count: 29),
    ]

    static let emails = [
        // The cases from before IDNA.
        " Somchai@Example.CO.TH ", "a@b", "a b@c.d", "a@b.c\nBcc: x@y.z", "@b.co", "x@y.co", "ab", "a@.co",
        "ผู้ใช้@example.co.th", "a\u{202E}b@example.com", "a\u{200B}@example.com",
        // Unicode and ASCII domains, both ways, any case.
        "somchai@ตัวอย่าง.ไทย", "Somchai@ตัวอย่าง.ไทย", "somchai@xn--72c1a1bt4awk9o.xn--o3cw4h", "SOMCHAI@XN--72C1A1BT4AWK9O.XN--O3CW4H",
        "somchai@ตัวอย่าง.xn--o3cw4h", "user@xn--72c9ao5c.com", "user@หพนง.com", "info@สมาร์ทเทค.com", "info@xn--42c1ba2bk4b5c8fse.com",
        "info@สมาร์ทเทค.co.th", "ผู้ใช้@ไทย.ไทย", "Jürgen@BÜCHER.de", "jürgen@xn--bcher-kva.de", "a@xn--BCHER-KVA.de",
        "jürgen@bu\u{0308}cher.de", "ju\u{0308}rgen@example.de", "a@日本.jp", "a@๑๒๓.com",
        // Case mappings where Swift's lowercased() and PostgreSQL's lower() differ or could.
        "İSTANBUL@example.com", "a@İstanbul.com.tr", "ΣΑΣ@example.gr", "ǅ@example.com", "ẞ@example.de",
        // Malformed xn-- labels.
        "a@xn--99zz.com", "a@xn--.com", "a@xn--abc.com", "a@xn--ab-.com", "a@xn--ไทย.com", "a@xn--bcher-2pa.de",
        "a@xn--zzzzzzzzzzzzzzzzzzzz.com", "a@b.xn--o3cw4h-.com",
        // Empty labels, spaces that [:space:] does not cover, a bidi mark, full stops that are not dots.
        "a@.b.co", "a@b.co.", "a@..co", "a@b..co", "a\u{00A0}b@x.co", "a\u{2007}b@x.co", "a\u{202F}b@x.co", "a\u{061C}b@x.co",
        "a@ไทย\u{200D}.com", "a@example。com", "a@example．com", "a@b@c.co",
        // Lengths on code points, on the final (ASCII) form.
        String(repeating: "ผู้", count: 82) + "@x.co", String(repeating: "ผู้", count: 83) + "@x.co",
        String(repeating: "a", count: 239) + "@ไทย.com", String(repeating: "a", count: 240) + "@ไทย.com",
        String(repeating: "a", count: 5000) + "@x.co",
    ]

    static let nationalIDs = [
        "1101700207030", "1-1017-00207-03-0", "1 1017 00207 03 0", "๑-๑๐๑๗-๐๐๒๐๗-๐๓-๐", "๑๑๐๑๗๐๐๒๐๗๐๓๐", "１１０１７００２０７０３０",
        "1101700207031", "110170020703", "11017002070300", "abc", "", " 1101700207030 ", "1101700207030\t", "TH1101700207030",
    ]

    static let mobiles: [(String, Bool)] = [
        ("+66812345678", true), ("+6624443044", false), ("+14155550123", true), ("+66612345678", true), ("+66912345678", true),
        ("+66712345678", false), ("+66212345678", false), ("+6681234567", false), ("+668123456789", false), ("+66", false),
        ("081-234-5678", false), ("0812345678", false), ("", false), ("+0123456789", false), ("+44 20 7946 0958", false),
        ("+447911123456", true),
    ]

    /// Strings compared as code points: `==` on String treats canonically equivalent text as
    /// equal, which would hide an NFC disagreement.
    static func scalars(_ value: String?) -> [UInt32]? { value.map { $0.unicodeScalars.map(\.value) } }

    static func sql(_ connection: PostgresConnection, _ function: String, _ argument: String) async throws -> String? {
        try await connection.query("SELECT \(function)($1) AS v", [argument])[0].decode("v", as: String?.self)
    }

    // MARK: - Punycode

    @Test func punycodeEncodesAndDecodesTheRFC3492Samples() {
        for (unicode, encoded, rfc) in Self.rfcSamples {
            #expect(Punycode.encode(unicode) == encoded, "\(encoded)")
            #expect(Self.scalars(Punycode.decode(rfc)) == Self.scalars(unicode), "\(rfc)")
            #expect(Self.scalars(Punycode.decode(encoded)) == Self.scalars(unicode), "\(encoded)")
        }
        for (label, encoded) in Self.thaiLabels {
            #expect(Punycode.encode(label) == encoded, "\(label)")
            #expect(Self.scalars(Punycode.decode(encoded)) == Self.scalars(label), "\(encoded)")
        }
        for label in Self.invalidPunycode { #expect(Punycode.decode(label) == nil, "\(label)") }
    }

    @Test func sqlPunycodeIsTheSameAlgorithm() async throws {
        try await TestDatabase.migrated { _, connection in
            for (unicode, encoded, rfc) in Self.rfcSamples {
                #expect(try await Self.sql(connection, "dsr.punycode_encode", unicode) == encoded, "\(encoded)")
                #expect(Self.scalars(try await Self.sql(connection, "dsr.punycode_decode", rfc)) == Self.scalars(unicode), "\(rfc)")
            }
            for (label, encoded) in Self.thaiLabels {
                #expect(try await Self.sql(connection, "dsr.punycode_encode", label) == encoded, "\(label)")
                #expect(Self.scalars(try await Self.sql(connection, "dsr.punycode_decode", encoded)) == Self.scalars(label), "\(encoded)")
            }
            for label in Self.invalidPunycode + ["abc", "ab-", "a"] {
                let value = try await Self.sql(connection, "dsr.punycode_decode", label)
                #expect(Self.scalars(value) == Self.scalars(Punycode.decode(label)), "\(label)")
            }
            for label in Self.invalidPunycode { #expect(try await Self.sql(connection, "dsr.punycode_decode", label) == nil, "\(label)") }
        }
    }

    // MARK: - Swift and SQL agree

    @Test func swiftAndSQLNormalisationAgree() async throws {
        try await TestDatabase.migrated { _, connection in
            for raw in Self.phones {
                let sql = try await Self.sql(connection, "dsr.normalize_phone", raw)
                #expect(IdentifierNormalizer.phone(raw) == sql, "\(raw.debugDescription)")
                // The store side matches on its own, indexable expression: it must agree too.
                let store = try await connection.query(
                    "SELECT \(SQLStatements.phoneExpression("v.raw")) AS p FROM (SELECT $1::text AS raw) AS v", [raw])[0].decode(
                        "p", as: String?.self)
                #expect(store == sql, "\(raw.debugDescription)")
            }
            for raw in Self.emails {
                let sql = try await Self.sql(connection, "dsr.normalize_email", raw)
                #expect(Self.scalars(IdentifierNormalizer.email(raw)) == Self.scalars(sql), "\(raw.debugDescription)")
                guard let canonical = sql else { continue }
                // The canonical form is its own canonical form, and so is its Unicode form.
                let unicode = try #require(try await Self.sql(connection, "dsr.email_domain_unicode", canonical))
                #expect(Self.scalars(IdentifierNormalizer.emailDomainUnicode(canonical)) == Self.scalars(unicode), "\(canonical)")
                #expect(try await Self.sql(connection, "dsr.normalize_email", canonical) == canonical)
                #expect(try await Self.sql(connection, "dsr.normalize_email", unicode) == canonical, "\(unicode)")
                #expect(IdentifierNormalizer.email(unicode) == canonical, "\(unicode)")
            }
            for raw in Self.emails + ["A@XN--O3CW4H.COM", "no at sign", "a@", "x@xn--99zz.xn--o3cw4h", "a@b@xn--o3cw4h.com"] {
                let sql = try await Self.sql(connection, "dsr.email_domain_unicode", raw)
                #expect(Self.scalars(IdentifierNormalizer.emailDomainUnicode(raw)) == Self.scalars(sql), "\(raw.debugDescription)")
            }
            for raw in Self.nationalIDs {
                let sql = try await Self.sql(connection, "dsr.normalize_national_id", raw)
                #expect(IdentifierNormalizer.nationalID(raw) == sql, "\(raw.debugDescription)")
            }
            for raw in Self.phones + Self.nationalIDs + ["๐๑๒๓๔๕๖๗๘๙", "０１２３４５６７８９", "abc ๕ x", "٠١٢"] {
                let sql = try await Self.sql(connection, "dsr.normalize_digits", raw)
                #expect(Self.scalars(IdentifierNormalizer.digits(raw)) == Self.scalars(sql), "\(raw.debugDescription)")
            }
            for (number, _) in Self.mobiles {
                let sql = try await connection.query("SELECT dsr.is_mobile_phone($1) AS m", [number])[0].decode("m", as: Bool.self)
                #expect(IdentifierNormalizer.isMobile(number) == sql, "\(number)")
            }
        }
    }

    /// One code point at a time, in the blocks an address is most likely to meet (Latin,
    /// Greek, Cyrillic, Thai, general punctuation and spaces, fullwidth forms), in the local
    /// part and in a domain label: refusals, case mapping, NFC and Punycode must agree.
    @Test func swiftAndSQLAgreeOnEveryCharacterOfCommonBlocks() async throws {
        let ranges: [ClosedRange<UInt32>] = [
            0x01...0x052F, 0x0E00...0x0E7F, 0x1680...0x1680, 0x180E...0x180E, 0x1E00...0x1EFF,
            0x2000...0x206F, 0x3000...0x3003, 0xFE00...0xFE0F, 0xFEFF...0xFEFF, 0xFF00...0xFF65,
        ]
        let characters = ranges.flatMap { $0 }.compactMap(Unicode.Scalar.init).map { String(Character($0)) }
        let inputs = characters.flatMap { ["a\($0)b@example.com", "a@x\($0)y.com", "\($0)@example.com"] }
        try await TestDatabase.migrated { _, connection in
            let rows = try await connection.query(
                "SELECT dsr.normalize_email(raw) AS e FROM unnest($1::text[]) WITH ORDINALITY AS i(raw, n) ORDER BY n", [inputs])
            #expect(rows.count == inputs.count)
            var disagreements: [String] = []
            for (raw, row) in zip(inputs, rows) {
                let sql = try row.decode("e", as: String?.self)
                if Self.scalars(IdentifierNormalizer.email(raw)) != Self.scalars(sql) {
                    disagreements.append(raw.unicodeScalars.map { String($0.value, radix: 16) }.joined(separator: " "))
                }
            }
            #expect(disagreements == [])
        }
    }

    // MARK: - What each form gives

    @Test func phoneAndEmailNormalisation() async throws {
        try await TestDatabase.migrated { _, connection in
            let cases: [(String, String?)] = [
                ("081-234-5678", "+66812345678"), ("+66812345678", "+66812345678"), ("66812345678", "+66812345678"),
                ("+66 (0)81 234 5678", "+66812345678"), ("02-444-3044", "+6624443044"), ("024443044", "+6624443044"),
                ("+1 415 555 0123", "+14155550123"), ("12345", nil), ("0812345678901", nil), ("phone", nil), ("", nil),
                // Thai and fullwidth digits are digits.
                ("๐๘๑-๒๓๔-๕๖๗๘", "+66812345678"), ("+๖๖ ๘๑ ๒๓๔ ๕๖๗๘", "+66812345678"), ("๐๒-๔๔๔-๓๐๔๔", "+6624443044"),
                ("０８１-２３４-５６７８", "+66812345678"), ("081-๒๓๔-５６７８", "+66812345678"), ("+๑ ๔๑๕ ๕๕๕ ๐๑๒๓", "+14155550123"),
                ("٠٨١٢٣٤٥٦٧٨", nil),
                // The international call prefix 00 is +.
                ("0066 81 234 5678", "+66812345678"), ("0066-081-234-5678", "+66812345678"), ("00 1 415 555 0123", "+14155550123"),
                ("๐๐๖๖๘๑๒๓๔๕๖๗๘", "+66812345678"), ("000812345678", nil),
            ]
            for (raw, expected) in cases {
                let value = try await Self.sql(connection, "dsr.normalize_phone", raw)
                #expect(value == expected, "\(raw)")
                #expect(IdentifierNormalizer.phone(raw) == expected, "\(raw)")
            }
            let emails: [(String, String?)] = [
                (" Somchai@Example.CO.TH ", "somchai@example.co.th"), ("a@b", nil), ("a b@c.d", nil),
                ("a@b.c\nBcc: x@y.z", nil), ("@b.co", nil),
                ("Somchai@ตัวอย่าง.ไทย", "somchai@xn--72c1a1bt4awk9o.xn--o3cw4h"),
                ("SOMCHAI@XN--72C1A1BT4AWK9O.XN--O3CW4H", "somchai@xn--72c1a1bt4awk9o.xn--o3cw4h"),
                ("info@สมาร์ทเทค.com", "info@xn--42c1ba2bk4b5c8fse.com"), ("ผู้ใช้@example.co.th", "ผู้ใช้@example.co.th"),
                ("jürgen@bu\u{0308}cher.de", "jürgen@xn--bcher-kva.de"),
                ("a@xn--99zz.com", nil), ("a@xn--abc.com", nil), ("a@xn--bcher-2pa.de", nil), ("a@b.co.", nil), ("a\u{00A0}b@x.co", nil),
                (String(repeating: "a", count: 239) + "@ไทย.com", String(repeating: "a", count: 239) + "@xn--o3cw4h.com"),
                (String(repeating: "a", count: 240) + "@ไทย.com", nil),
            ]
            for (raw, expected) in emails {
                let value = try await Self.sql(connection, "dsr.normalize_email", raw)
                #expect(Self.scalars(value) == Self.scalars(expected), "\(raw)")
            }
        }
    }

    @Test func asciiAndUnicodeDomainsAreOneAddress() async throws {
        try await TestDatabase.migrated { _, connection in
            for (ascii, unicode) in [
                ("user@xn--72c9ao5c.com", "user@หพนง.com"),
                ("somchai@xn--72c1a1bt4awk9o.xn--o3cw4h", "somchai@ตัวอย่าง.ไทย"),
                ("info@xn--42c1ba2bk4b5c8fse.com", "info@สมาร์ทเทค.com"),
            ] {
                #expect(try await Self.sql(connection, "dsr.normalize_email", unicode) == ascii)
                #expect(try await Self.sql(connection, "dsr.normalize_email", ascii) == ascii)
                #expect(try await Self.sql(connection, "dsr.normalize_email", ascii.uppercased()) == ascii)
                #expect(try await Self.sql(connection, "dsr.email_domain_unicode", ascii) == unicode)
                #expect(IdentifierNormalizer.email(unicode) == ascii)
                #expect(IdentifierNormalizer.emailVariants(ascii) == [ascii, unicode])
            }
            #expect(IdentifierNormalizer.emailVariants("somchai@example.co.th") == ["somchai@example.co.th"])
            #expect(try await Self.sql(connection, "dsr.email_domain_unicode", "somchai@example.co.th") == "somchai@example.co.th")
            // What a request carries: submitted in one form, stored canonical.
            let id = try await connection.query("SELECT dsr.submit('access', $1::jsonb) AS id", [#"{"email": "Somchai@ตัวอย่าง.ไทย"}"#])[0]
                .decode("id", as: UUID.self)
            let stored = try await connection.query("SELECT subject_email FROM dsr.requests WHERE id = $1", [id])[0]
                .decode("subject_email", as: String.self)
            #expect(stored == "somchai@xn--72c1a1bt4awk9o.xn--o3cw4h")
        }
    }

    @Test func mobileNumbers() async throws {
        try await TestDatabase.migrated { _, connection in
            for (number, mobile) in Self.mobiles {
                let sql = try await connection.query("SELECT dsr.is_mobile_phone($1) AS m", [number])[0].decode("m", as: Bool.self)
                #expect(sql == mobile, "\(number)")
                #expect(IdentifierNormalizer.isMobile(number) == mobile, "\(number)")
            }
            // A landline written any way is a phone, but not one that takes SMS.
            let landline = try #require(try await Self.sql(connection, "dsr.normalize_phone", "๐๒-๔๔๔-๓๐๔๔"))
            #expect(try await connection.query("SELECT dsr.is_mobile_phone($1) AS m", [landline])[0].decode("m", as: Bool.self) == false)
            #expect(try await connection.query("SELECT dsr.is_mobile_phone(NULL) AS m")[0].decode("m", as: Bool?.self) == nil)
        }
    }

    @Test func nationalIDs() async throws {
        // A store's id that fails the Thai check (a foreign id) is still an identifier.
        var identity = IdentitySet()
        identity.add("๑-๑๐๑๗-๐๐๒๐๗-๐๓-๐", as: .nationalID)
        identity.add("P-1234 567", as: .nationalID)
        identity.add(" - ", as: .nationalID)
        #expect(identity.nationalIDs == ["1101700207030", "P1234567"])
        try await TestDatabase.migrated { _, connection async throws in
            for raw in ["1101700207030", "1-1017-00207-03-0", "๑-๑๐๑๗-๐๐๒๐๗-๐๓-๐", "１１０１７００２０７０３０", " 1101700207030 "] {
                #expect(try await Self.sql(connection, "dsr.normalize_national_id", raw) == "1101700207030", "\(raw)")
                #expect(IdentifierNormalizer.nationalID(raw) == "1101700207030", "\(raw)")
            }
            for raw in ["1101700207031", "110170020703", "abc", "", "1101700207030\t"] {
                #expect(try await Self.sql(connection, "dsr.normalize_national_id", raw) == nil, "\(raw)")
                #expect(IdentifierNormalizer.nationalID(raw) == nil, "\(raw)")
            }
        }
    }

    // MARK: - Store side

    /// The store matches on `SQLStatements.lookupExpression` over its own column: a store
    /// holding an identifier in any form finds the person by the canonical value.
    @Test func storeLookupExpressionsAgreeWithSQL() async throws {
        try await TestDatabase.migrated { _, connection in
            for raw in Self.nationalIDs {
                let store = try await connection.query(
                    "SELECT \(SQLStatements.lookupExpression(.nationalID, column: "v.raw")) AS n FROM (SELECT $1::text AS raw) AS v", [raw])[
                        0
                    ]
                    .decode("n", as: String.self)
                var identity = IdentitySet()
                identity.add(raw, as: .nationalID)
                #expect(identity.nationalIDs == (store.isEmpty ? [] : [store]), "\(raw.debugDescription)")
                if let valid = try await Self.sql(connection, "dsr.normalize_national_id", raw) { #expect(store == valid, "\(raw)") }
            }
            for raw in Self.phones {
                let store = try await connection.query(
                    "SELECT \(SQLStatements.lookupExpression(.phone, column: "v.raw")) AS p FROM (SELECT $1::text AS raw) AS v", [raw])[0]
                    .decode("p", as: String?.self)
                #expect(store == (try await Self.sql(connection, "dsr.normalize_phone", raw)), "\(raw.debugDescription)")
            }
            // Emails: a store may hold either domain form, in any case; one of the variants of
            // the canonical address matches it.
            let canonical = "somchai@xn--72c1a1bt4awk9o.xn--o3cw4h"
            let variants = IdentifierNormalizer.emailVariants(canonical)
            for held in ["Somchai@ตัวอย่าง.ไทย", " somchai@XN--72C1A1BT4AWK9O.xn--o3cw4h ", canonical] {
                let matched = try await connection.query(
                    "SELECT \(SQLStatements.lookupExpression(.email, column: "v.raw")) = ANY($2::text[]) AS m FROM (SELECT $1::text AS raw) AS v",
                    [held, variants])[0].decode("m", as: Bool.self)
                #expect(matched, "\(held)")
                #expect(IdentifierNormalizer.email(held) == canonical, "\(held)")
            }
            let other = try await connection.query(
                "SELECT \(SQLStatements.lookupExpression(.email, column: "v.raw")) = ANY($2::text[]) AS m FROM (SELECT $1::text AS raw) AS v",
                ["somchai@ตัวอย่าง.com", variants])[0].decode("m", as: Bool.self)
            #expect(!other)
        }
    }

    /// The store-side expressions must stay indexable in a store's own database: immutable
    /// functions only, nothing from the dsr schema.
    @Test func storeExpressionsAreIndexableWithoutTheDSRSchema() async throws {
        try await TestDatabase.with { database in
            let connection = try await database.connect()
            try await connection.execute("CREATE TABLE people (email text, phone text, national_id text)")
            for (kind, column) in [(IdentityKind.email, "email"), (.phone, "phone"), (.nationalID, "national_id")] {
                let expression = SQLStatements.lookupExpression(kind, column: "\"\(column)\"")
                #expect(!expression.contains("dsr."))
                try await connection.execute("CREATE INDEX ON people ((\(expression)))")
            }
            try await connection.execute("INSERT INTO people VALUES ($1, $2, $3)", ["A@B.co", "๐๘๑-๒๓๔-๕๖๗๘", "๑-๑๐๑๗-๐๐๒๐๗-๐๓-๐"])
            let phone = try await connection.query("SELECT \(SQLStatements.lookupExpression(.phone, column: "phone")) AS p FROM people")[0]
                .decode("p", as: String.self)
            #expect(phone == "+66812345678")
        }
    }

    // MARK: - Schema

    /// Every function in schema dsr says what it does (`\df+ dsr.*`), as tables and columns do.
    @Test func everyFunctionInSchemaDSRIsCommented() async throws {
        try await TestDatabase.migrated { _, connection in
            let missing = try await connection.query(
                """
                SELECT p.oid::regprocedure::text AS name
                  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                 WHERE n.nspname = 'dsr' AND obj_description(p.oid, 'pg_proc') IS NULL
                 ORDER BY 1
                """
            ).map { try $0.decode("name", as: String.self) }
            #expect(missing == [])
            let immutable = try await connection.query(
                """
                SELECT p.proname AS name FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                 WHERE n.nspname = 'dsr' AND p.provolatile = 'i' AND p.proparallel = 's' AND p.proisstrict
                 ORDER BY 1
                """
            ).map { try $0.decode("name", as: String.self) }
            for name in [
                "normalize_digits", "normalize_phone", "normalize_national_id", "normalize_email", "email_domain_unicode",
                "is_mobile_phone", "punycode_encode", "punycode_decode",
            ] {
                #expect(immutable.contains(name), "\(name)")
            }
        }
    }
}
