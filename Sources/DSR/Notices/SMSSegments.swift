/// How many SMS parts a text needs. Any character outside the GSM 03.38 alphabet (Thai,
/// for one) forces UCS-2: 70 characters in one part, 67 per part when split.
public enum SMSSegments {
    public enum Encoding: String, Sendable {
        case gsm7 = "GSM-7"
        case ucs2 = "UCS-2"
    }

    private static let gsmBasic = Set(
        "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
            .unicodeScalars)
    private static let gsmExtended = Set("^{}\\[~]|€".unicodeScalars)

    public static func count(_ text: String) -> (encoding: Encoding, units: Int, segments: Int) {
        if text.unicodeScalars.allSatisfy({ gsmBasic.contains($0) || gsmExtended.contains($0) }) {
            let septets = text.unicodeScalars.reduce(0) { $0 + (gsmExtended.contains($1) ? 2 : 1) }
            return (.gsm7, septets, septets <= 160 ? 1 : (septets + 152) / 153)
        }
        let units = text.utf16.count
        return (.ucs2, units, units <= 70 ? 1 : (units + 66) / 67)
    }
}
