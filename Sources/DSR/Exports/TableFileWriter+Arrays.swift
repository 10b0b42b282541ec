extension TableFileWriter {
    /// Appends PostgreSQL's array text form as a JSON array: `{vip,"line \"b\"",NULL}` becomes
    /// `["vip", "line \"b\"", null]`, `{{1,2},{3,4}}` nests, and a lower bound other than 1
    /// (`[0:1]={7,8}`) is dropped. Each element is encoded as `element` (numbers stay numbers,
    /// json elements are embedded). Returns false, having appended something unusable, when
    /// the text is not an array; the caller then writes it as a string.
    static func appendJSONArray(_ bytes: UnsafeRawBufferPointer, of element: FieldKind, to out: inout [UInt8]) -> Bool {
        let count = bytes.count
        var index = 0
        if count > 0 && bytes[0] == UInt8(ascii: "[") {
            guard let equals = bytes.firstIndex(of: UInt8(ascii: "=")) else { return false }
            index = equals + 1
        }
        guard index < count, bytes[index] == UInt8(ascii: "{") else { return false }
        var depth = 0
        var noCSV: [UInt8]? = nil
        var scratch: [UInt8] = []
        while index < count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "{"):
                out.append(UInt8(ascii: "["))
                depth += 1
                index += 1
            case UInt8(ascii: "}"):
                guard depth > 0 else { return false }
                out.append(UInt8(ascii: "]"))
                depth -= 1
                index += 1
                if depth == 0 { return index == count }
            case UInt8(ascii: ","):
                out.append(contentsOf: [UInt8(ascii: ","), UInt8(ascii: " ")])
                index += 1
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                index += 1
            case UInt8(ascii: "\""):
                // A quoted element: backslash escapes the next byte.
                guard depth > 0 else { return false }
                scratch.removeAll(keepingCapacity: true)
                index += 1
                var closed = false
                while index < count {
                    let next = bytes[index]
                    if next == UInt8(ascii: "\\"), index + 1 < count {
                        scratch.append(bytes[index + 1])
                        index += 2
                    } else if next == UInt8(ascii: "\"") {
                        index += 1
                        closed = true
                        break
                    } else {
                        scratch.append(next)
                        index += 1
                    }
                }
                guard closed else { return false }
                scratch.withUnsafeBytes { encode($0, as: element, json: &out, csv: &noCSV) }
            default:
                // An unquoted element runs to the next delimiter; NULL (any case) is null.
                guard depth > 0 else { return false }
                let start = index
                while index < count, bytes[index] != UInt8(ascii: ","), bytes[index] != UInt8(ascii: "}") { index += 1 }
                var end = index
                while end > start, bytes[end - 1] == UInt8(ascii: " ") { end -= 1 }
                let raw = UnsafeRawBufferPointer(rebasing: bytes[start..<end])
                let isNull = raw.count == 4 && String(decoding: raw, as: UTF8.self).uppercased() == "NULL"
                encode(isNull ? nil : raw, as: element, json: &out, csv: &noCSV)
            }
        }
        return false
    }
}
