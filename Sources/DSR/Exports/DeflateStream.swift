import CDeflate

/// Raw DEFLATE (RFC 1951: what a ZIP entry of method 8 holds) through zlib, fed in chunks,
/// with the CRC-32 of what went in, which the ZIP's headers need. Memory stays flat: each
/// chunk's output is handed back before the next is taken.
final class DeflateStream {
    /// zlib's level 3: on JSON exports as fast as level 1 and smaller; the default (6) took
    /// twice as long for 5% less.
    static let level: Int32 = 3

    /// The stream lives at a fixed address: zlib checks that it is called with the same one.
    private let stream: UnsafeMutablePointer<z_stream>
    private let output: UnsafeMutablePointer<UInt8>
    private static let outputCapacity = 1 << 16
    private(set) var crc32: UInt32 = 0
    private(set) var size = 0
    private(set) var deflatedSize = 0
    private var finished = false

    init() throws {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        output = .allocate(capacity: Self.outputCapacity)
        guard dsrd_deflate_init_raw(stream, Self.level) == Z_OK else {
            stream.deallocate()
            output.deallocate()
            throw FileSystemError(description: "zlib could not start a deflate stream")
        }
    }

    deinit {
        deflateEnd(stream)
        stream.deallocate()
        output.deallocate()
    }

    /// Deflates `input`; with `finish`, also flushes the end of the stream. `consume` gets the
    /// compressed bytes as they come (possibly several times, possibly not at all).
    func deflate(_ input: UnsafeRawBufferPointer, finish: Bool, _ consume: (UnsafeRawBufferPointer) throws -> Void) throws {
        precondition(!finished, "deflate after the stream was finished")
        let bytes = input.baseAddress?.assumingMemoryBound(to: Bytef.self)
        if let bytes, input.count > 0 {
            crc32 = UInt32(truncatingIfNeeded: CDeflate.crc32(uLong(crc32), bytes, uInt(input.count)))
        }
        size += input.count
        stream.pointee.next_in = UnsafeMutablePointer(mutating: bytes)
        stream.pointee.avail_in = uInt(input.count)
        while true {
            stream.pointee.next_out = output
            stream.pointee.avail_out = uInt(Self.outputCapacity)
            let result = CDeflate.deflate(stream, finish ? Z_FINISH : Z_NO_FLUSH)
            guard result == Z_OK || result == Z_STREAM_END || result == Z_BUF_ERROR else {
                throw FileSystemError(description: "zlib deflate failed (\(result))")
            }
            let produced = Self.outputCapacity - Int(stream.pointee.avail_out)
            if produced > 0 { try consume(UnsafeRawBufferPointer(start: output, count: produced)) }
            deflatedSize += produced
            if finish {
                if result == Z_STREAM_END { break }
            } else if stream.pointee.avail_out != 0 {
                break  // all input taken, and zlib holds no more output for now
            }
        }
        if finish { finished = true }
    }
}
