import Foundation
import ZIPFoundation

/// Assembles the files the store tasks wrote into one ZIP: the tables, a human-readable
/// `summary.txt` in the person's language, and `manifest.json` listing every other file with
/// its SHA-256, size and row count. The tables were deflated as the stores sent them
/// (`StagedFileWriter`); `ZIPWriter` copies them in from disk one at a time, so memory does
/// not depend on the size of the export. ZIPFoundation reads bundles back (`existing`,
/// `ExportVerifier`).
struct ExportBundle {
    struct Result: Sendable {
        let path: String
        let size: Int
        let sha256: String
        let manifestSHA256: String
        let rows: Int
        let files: Int
    }

    struct Manifest: Codable {
        struct Store: Codable {
            var name: String
            var sources: [String]
        }

        var format: String
        var formatVersion: Int
        var requestID: String
        var kind: String
        var generatedAt: String
        var dsrdVersion: String
        var stores: [Store]
        var files: [ExportedFile]

        /// `requestId`, so snake case round-trips: written as `request_id` (convertToSnakeCase),
        /// read back by convertFromSnakeCase, which makes `requestId`, never `requestID`.
        enum CodingKeys: String, CodingKey {
            case format, formatVersion
            case requestID = "requestId"
            case kind, generatedAt, dsrdVersion, stores, files
        }
    }

    let requestID: UUID
    let kind: RequestKind
    let language: Language
    let stores: [StoreMapping]
    let files: [ExportedFile]
    let timeZone: TimeZone
    let company: DSRConfiguration.Company
    /// Manual stores' outcomes, stated in the summary (their records are not in the ZIP).
    var manualTasks: [ManualTaskRecord] = []

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.keyEncodingStrategy = .convertToSnakeCase
        return encoder
    }()

    /// Whether a task's file is still in the staging folder, complete.
    static func isStaged(_ file: ExportedFile, in staging: URL) -> Bool {
        let (path, offset) = file.stagedLocation(in: staging)
        guard let size = FileSystem.size(path) else { return false }
        let length = file.staged?.deflatedSize ?? file.size
        return file.staged?.packOffset == nil ? size == length : size >= offset + length
    }

    /// An entry's bytes, read in `chunkSize` pieces; nil when it cannot be read.
    static func read(_ entry: Entry, of archive: Archive) -> Data? {
        var data = Data()
        return (try? archive.extract(entry, bufferSize: chunkSize, consumer: { data.append($0) })) != nil ? data : nil
    }

    /// A bundle's `manifest.json`, decoded, with its bytes; nil when it is missing or does not decode.
    static func manifest(in archive: Archive) -> (manifest: Manifest, data: Data)? {
        guard let entry = archive["manifest.json"], let data = read(entry, of: archive) else { return nil }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return (try? decoder.decode(Manifest.self, from: data)).map { ($0, data) }
    }

    /// The bundle an earlier attempt already put at `destination`, if it is this request's
    /// and holds exactly these files: then assembling again would only change its timestamp.
    func existing(at destination: URL) -> Result? {
        guard FileSystem.size(destination.path) != nil,
            let archive = try? Archive(url: destination, accessMode: .read, pathEncoding: nil),
            let (manifest, manifestData) = Self.manifest(in: archive),
            manifest.requestID == requestID.uuidString.lowercased(),
            manifest.files.filter({ $0.path != "summary.txt" }).sorted(by: { $0.path < $1.path })
                == files.map(\.listed).sorted(by: { $0.path < $1.path }),
            let sha256 = try? Digests.sha256Hex(file: destination), let size = FileSystem.size(destination.path)
        else { return nil }
        return Result(
            path: destination.path, size: size, sha256: sha256, manifestSHA256: Digests.sha256Hex(manifestData),
            rows: files.filter { $0.path.hasSuffix(".json") }.reduce(0) { $0 + $1.rows }, files: files.count + 2)
    }

    /// Which claim of the finalize job assembles the bundle: it names the partial file.
    struct Attempt: Sendable {
        var job: Int64 = 0
        var number = 1
    }

    /// Writes the ZIP as `.<name>.<job>-<attempt>.partial` beside `destination` and puts it into
    /// place. The tables come from the staging folder, already deflated: they are copied. The
    /// summary and manifest come from memory.
    ///
    /// Two attempts can assemble the same request at once (a daemon paused past its lease
    /// while another takes the job over). Each writes its own partial file, and the first
    /// complete bundle stays: a later attempt finds `destination` taken, keeps that bundle
    /// (`existing`) and drops its own, so the file on disk is always the one whose digest
    /// the request records. Only a bundle that is not this request's (or not for these
    /// files) is replaced. Once it is in place, the partial files of the job's earlier
    /// attempts (a crash's leftovers) are removed by name; the export janitor removes any other.
    /// `beforePlacing` runs once the partial file is complete (tests run another attempt there).
    func write(
        staging: URL, to destination: URL, attempt: Attempt = Attempt(), zip64Limit: UInt64 = 0xFFFF_FFFF,
        beforePlacing: () throws -> Void = {}
    ) throws -> Result {
        let now = Date()
        let summaryBytes = Array(summary().utf8)
        let summaryFile = ExportedFile(
            path: "summary.txt", sha256: Digests.sha256Hex(summaryBytes), size: summaryBytes.count, rows: 0, store: "", table: "")
        let manifest = Manifest(
            format: kind == .portability ? "dsrd-portability" : "dsrd-access", formatVersion: 1,
            requestID: requestID.uuidString.lowercased(), kind: kind.rawValue,
            generatedAt: DateTexts.isoSeconds(now), dsrdVersion: DSRVersion.current,
            stores: stores.map { .init(name: $0.name, sources: $0.sources) }, files: (files + [summaryFile]).map(\.listed))
        let manifestData = try Self.encoder.encode(manifest)

        let temporary = Self.partialPath(for: destination, attempt: attempt)
        defer { FileSystem.remove(temporary) }
        let zip = try ZIPWriter(path: temporary, modified: now, timeZone: timeZone, zip64Limit: zip64Limit)
        for file in files {
            let (path, offset) = file.stagedLocation(in: staging)
            if let staged = file.staged {
                try zip.addDeflated(
                    name: file.path, crc32: staged.crc32, size: file.size, deflatedPath: path, at: offset,
                    wholeFile: staged.packOffset == nil, deflatedSize: staged.deflatedSize)
            } else {
                let deflated = try Self.deflate(path, into: path + ".deflate")
                defer { FileSystem.remove(path + ".deflate") }
                try zip.addDeflated(
                    name: file.path, crc32: deflated.crc32, size: deflated.size, deflatedPath: path + ".deflate", at: 0,
                    wholeFile: true, deflatedSize: deflated.deflatedSize)
            }
        }
        try zip.add(name: "summary.txt", bytes: summaryBytes)
        try zip.add(name: "manifest.json", bytes: Array(manifestData))
        let (size, sha256) = try zip.finish()
        Failpoints.hit("finalize.after_partial_written")
        try beforePlacing()
        if try !FileSystem.placeWithoutReplacing(temporary, at: destination.path) {
            // Another attempt placed its bundle first (and may have removed this partial file).
            if let placed = existing(at: destination) { return placed }
            try FileSystem.rename(temporary, destination.path)  // not this request's bundle: replaced
        }
        // Partial files of earlier attempts a crash interrupted, or still writing (those find
        // this bundle in place when they finish), and of a dsrd before attempts named them.
        if attempt.number > 1 {
            for number in 1..<attempt.number {
                FileSystem.remove(Self.partialPath(for: destination, attempt: .init(job: attempt.job, number: number)))
            }
            FileSystem.remove(destination.deletingLastPathComponent().path + "/.\(destination.lastPathComponent).partial")
        }
        return Result(
            path: destination.path, size: size, sha256: sha256, manifestSHA256: Digests.sha256Hex(manifestData),
            rows: files.filter { $0.path.hasSuffix(".json") }.reduce(0) { $0 + $1.rows }, files: files.count + 2)
    }

    /// Where one attempt writes the bundle before it is put into place:
    /// `.<name>.<job>-<attempt>.partial`, so two attempts never write one file.
    static func partialPath(for destination: URL, attempt: Attempt) -> String {
        destination.deletingLastPathComponent().path + "/.\(destination.lastPathComponent).\(attempt.job)-\(attempt.number).partial"
    }

    /// The export file a partial file (`partialPath`, or `.<name>.partial` of a dsrd before
    /// it) was being written for; nil for any other name.
    static func exportName(ofPartial partial: String) -> String? {
        guard partial.hasPrefix("."), partial.hasSuffix(".partial") else { return nil }
        let name = partial.dropFirst().dropLast(".partial".count)
        if name.hasSuffix(".zip") { return String(name) }
        guard let dot = name.lastIndex(of: "."), name[..<dot].hasSuffix(".zip") else { return nil }
        return String(name[..<dot])
    }

    /// Deflates a file staged uncompressed (by a dsrd from before staged files were deflated)
    /// into `destination`, in pieces.
    static func deflate(_ path: String, into destination: String) throws -> DeflateStream {
        let target = open(destination, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard target >= 0 else { throw FileSystemError.failed("create", path: destination, errno: errno) }
        defer { close(target) }
        let deflater = try DeflateStream()
        try FileSystem.readChunks(of: path, chunk: chunkSize) {
            try deflater.deflate($0, finish: false) { try FileSystem.write(target, $0) }
        }
        try deflater.deflate(UnsafeRawBufferPointer(start: nil, count: 0), finish: true) { try FileSystem.write(target, $0) }
        return deflater
    }

    /// Bytes read at a time from files.
    static let chunkSize = 1 << 18

    /// What PDPA s.30 / GDPR Art. 15 require the person to be told, per store and table.
    func summary() -> String {
        let english = language == .english
        let locale = language.rawValue
        var lines: [String] = []
        let id = requestID.uuidString.lowercased()
        lines.append(
            english
                ? "Your personal data held by \(company.name(locale: locale))"
                : "ข้อมูลส่วนบุคคลของท่านที่ \(company.name(locale: locale)) เก็บรักษาไว้")
        lines.append((english ? "Request: " : "เลขที่คำขอ: ") + id)
        lines.append((english ? "Prepared: " : "จัดทำเมื่อ: ") + NoticeVocabulary.date(Date(), locale: locale, timeZone: timeZone))
        lines.append("")
        let total = files.filter { $0.path.hasSuffix(".json") }.reduce(0) { $0 + $1.rows }
        if total == 0 && !manualTasks.contains(where: { $0.outcome == "found" }) {
            lines.append(
                english
                    ? "We searched every system listed below and hold no personal data about you."
                    : "เราได้ตรวจสอบทุกระบบตามรายการด้านล่างแล้ว และไม่พบข้อมูลส่วนบุคคลของท่าน")
            lines.append("")
        }
        for store in stores {
            lines.append((english ? "System: " : "ระบบ: ") + store.name)
            if store.kind == .manual {
                // Checked by hand: the owner's outcome, not rows in the ZIP.
                let outcome = manualTasks.first { $0.store == store.name }?.sentence(locale: language)
                lines.append(
                    (english ? "  Checked by hand by our staff: " : "  เจ้าหน้าที่ตรวจสอบด้วยตนเอง: ")
                        + (outcome ?? (english ? "no outcome recorded" : "ยังไม่มีผลการตรวจสอบ")))
                lines.append("")
                continue
            }
            if !store.sources.isEmpty {
                lines.append(
                    (english ? "  Where the data came from: " : "  แหล่งที่มาของข้อมูล: ")
                        + store.sources.map { store.label($0, locale: locale) }.joined(separator: ", "))
            }
            for table in store.tables {
                let rows = files.first { $0.store == store.name && $0.table == table.name && $0.path.hasSuffix(".json") }?.rows ?? 0
                lines.append(
                    "  \(table.name): \(rows) " + (english ? (rows == 1 ? "record" : "records") : "รายการ")
                        + " (\(store.name)/\(table.name).json)")
                guard rows > 0 else { continue }
                let categories = Array(Set(table.categories.values)).sorted()
                if !categories.isEmpty {
                    lines.append(
                        (english ? "    Categories: " : "    ประเภทข้อมูล: ")
                            + categories.map { PrivacyVocabulary.label($0, locale: locale) }.joined(separator: "; "))
                }
                if !table.purposes.isEmpty {
                    lines.append(
                        (english ? "    Purposes: " : "    วัตถุประสงค์: ")
                            + table.purposes.map { store.label($0, locale: locale) }.joined(separator: "; "))
                }
                if !table.recipients.isEmpty {
                    lines.append(
                        (english ? "    Disclosed to: " : "    ผู้รับข้อมูล: ")
                            + table.recipients.map { store.label($0, locale: locale) }.joined(separator: "; "))
                }
                if let retention = table.retention[locale] ?? table.retention["en"] {
                    lines.append((english ? "    Kept: " : "    ระยะเวลาเก็บรักษา: ") + retention)
                }
            }
            lines.append("")
        }
        lines.append(
            english
                ? "manifest.json lists every file with its SHA-256 digest and size. You may ask us to correct, erase or restrict this data, object to its use, withdraw consent, or complain to \(company.regulatorEN) (\(company.regulatorURL)). Contact: \(company.contactEmail), \(company.contactPhone)."
                : "manifest.json แสดงรายการไฟล์ทั้งหมดพร้อมค่า SHA-256 และขนาดไฟล์ ท่านมีสิทธิ์ขอแก้ไข ลบ หรือระงับการใช้ข้อมูล คัดค้าน ถอนความยินยอม หรือร้องเรียนต่อ\(company.regulatorTH) (\(company.regulatorURL)) ติดต่อเรา: \(company.contactEmail) โทร \(company.contactPhone)"
        )
        return lines.joined(separator: "\n") + "\n"
    }
}
