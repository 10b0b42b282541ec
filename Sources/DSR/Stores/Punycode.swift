/// RFC 3492 Punycode for one domain label, without the `xn--` prefix: the integer
/// algorithm of section 6, on Unicode code points. `dsr.punycode_encode` /
/// `dsr.punycode_decode` (migration 0007) are the same algorithm in PL/pgSQL; the tests
/// check both against the RFC's samples.
///
/// Only the bootstring conversion: no case folding, normalisation or IDNA validity rules
/// (``IdentifierNormalizer/email(_:)`` lower-cases and NFC-normalises first).
enum Punycode {
    static let base = 36, tMin = 1, tMax = 26, skew = 38, damp = 700, initialBias = 72, initialN = 128
    /// Larger values cannot come from a valid label; decoding fails rather than overflow.
    static let maxValue = 0x7FFF_FFFF

    /// The encoded label (basic code points first, then `-` and the deltas, digits in lower
    /// case), or nil when the result could not be represented.
    static func encode(_ label: String) -> String? {
        let input = label.unicodeScalars.map { Int($0.value) }
        var output = String.UnicodeScalarView()
        for code in input where code < initialN { output.append(Unicode.Scalar(UInt8(code))) }
        let basic = output.count
        var handled = basic
        if basic > 0 { output.append("-") }
        var n = initialN
        var delta = 0
        var bias = initialBias
        while handled < input.count {
            let m = input.filter { $0 >= n }.min()!
            guard (m - n) <= (maxValue - delta) / (handled + 1) else { return nil }
            delta += (m - n) * (handled + 1)
            n = m
            for code in input {
                if code < n {
                    delta += 1
                    guard delta <= maxValue else { return nil }
                }
                if code == n {
                    var q = delta
                    var k = base
                    while true {
                        let t = threshold(k, bias)
                        if q < t { break }
                        output.append(digit(t + (q - t) % (base - t)))
                        q = (q - t) / (base - t)
                        k += base
                    }
                    output.append(digit(q))
                    bias = adapt(delta, handled + 1, first: handled == basic)
                    delta = 0
                    handled += 1
                }
            }
            delta += 1
            n += 1
        }
        return String(output)
    }

    /// The decoded label, or nil when `label` is not valid Punycode (a non-basic code point,
    /// an invalid or missing digit, overflow, or a result outside Unicode scalar values).
    /// Digits are accepted in either case.
    static func decode(_ label: String) -> String? {
        let input = Array(label.unicodeScalars)
        let delimiter = input.lastIndex(of: "-") ?? 0
        var output: [Unicode.Scalar] = []
        for scalar in input[..<delimiter] {
            guard scalar.isASCII else { return nil }
            output.append(scalar)
        }
        var position = delimiter > 0 ? delimiter + 1 : 0
        var n = initialN
        var i = 0
        var bias = initialBias
        while position < input.count {
            let old = i
            var w = 1
            var k = base
            while true {
                guard position < input.count, let d = value(input[position]) else { return nil }
                position += 1
                guard d <= (maxValue - i) / w else { return nil }
                i += d * w
                let t = threshold(k, bias)
                if d < t { break }
                guard w <= maxValue / (base - t) else { return nil }
                w *= base - t
                k += base
            }
            let count = output.count + 1
            bias = adapt(i - old, count, first: old == 0)
            guard i / count <= maxValue - n else { return nil }
            n += i / count
            i %= count
            guard n >= initialN, let scalar = Unicode.Scalar(UInt32(exactly: n) ?? 0xD800) else { return nil }
            output.insert(scalar, at: i)
            i += 1
        }
        var view = String.UnicodeScalarView()
        view.append(contentsOf: output)
        return String(view)
    }

    static func threshold(_ k: Int, _ bias: Int) -> Int {
        k <= bias ? tMin : (k >= bias + tMax ? tMax : k - bias)
    }

    static func adapt(_ delta: Int, _ count: Int, first: Bool) -> Int {
        var delta = first ? delta / damp : delta / 2
        delta += delta / count
        var k = 0
        while delta > ((base - tMin) * tMax) / 2 {
            delta /= base - tMin
            k += base
        }
        return k + (base - tMin + 1) * delta / (delta + skew)
    }

    /// 0...25 are a...z, 26...35 are 0...9.
    static func digit(_ d: Int) -> Unicode.Scalar {
        Unicode.Scalar(UInt8(d < 26 ? 97 + d : 22 + d))
    }

    static func value(_ scalar: Unicode.Scalar) -> Int? {
        switch scalar.value {
        case 48...57: Int(scalar.value) - 22
        case 65...90: Int(scalar.value) - 65
        case 97...122: Int(scalar.value) - 97
        default: nil
        }
    }
}
