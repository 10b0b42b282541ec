import Foundation
import Testing

@testable import DSR

/// dsrd writes its export ZIPs itself (entries deflated while the stores send rows, copied in
/// at assembly). These read the result back with two independent readers: ZIPFoundation,
/// through `ExportVerifier`, and Python's `zipfile`, as a person's unzip tool would.
@Suite("Export ZIP writer")
struct ZIPWriterTests {
    static let rows: [[TableFileWriter.Value]] = (0..<3000).map { index in
        [.string("\(index)"), .string("สมชาย \(index), \"quoted\"\nline"), .json(index.isMultiple(of: 2) ? "true" : "false"), .null]
    }

    /// Stages a store's table the way a store task does, then assembles the bundle.
    /// `inMemoryLimit`: the pack's; files whose deflated bytes outgrow it are staged in files
    /// of their own.
    static func bundle(
        zip64Limit: UInt64, stagedUncompressed: Bool = false, inMemoryLimit: Int = StagingPack.defaultInMemoryLimit
    ) throws -> (zip: String, files: [ExportedFile], folder: URL) {
        let (files, staging, folder) = try stage(stagedUncompressed: stagedUncompressed, inMemoryLimit: inMemoryLimit)
        let bundle = ExportBundle(
            requestID: UUID(), kind: .access, language: .thai, stores: [], files: files,
            timeZone: TimeZone(identifier: "Asia/Bangkok")!, company: DSRConfiguration.Company())
        let destination = folder.appendingPathComponent("export.zip")
        let result = try bundle.write(staging: staging, to: destination, zip64Limit: zip64Limit)
        #expect(result.size == FileSystem.size(destination.path))
        #expect(try result.sha256 == Digests.sha256Hex(file: destination))
        return (destination.path, files, folder)
    }

    /// A store's table staged the way a store task does it, in `folder/staging`.
    static func stage(
        stagedUncompressed: Bool = false, inMemoryLimit: Int = StagingPack.defaultInMemoryLimit
    ) throws -> (files: [ExportedFile], staging: URL, folder: URL) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("zipwriter-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let staging = folder.appendingPathComponent("staging")
        try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: true)
        let pack = StagingPack(directory: staging, store: "ร้านค้า", inMemoryLimit: inMemoryLimit)
        let writer = try TableFileWriter(pack: pack, table: "orders", formats: [.json, .csv])
        for row in rows { try writer.write(columns: ["id", "note", "paid", "gone"], values: row) }
        let small = try TableFileWriter(pack: pack, table: "notes", formats: [.json])
        try small.write(columns: ["note"], values: [.string("ส่งของช่วงเย็น")])
        var files = try writer.finish() + small.finish()
        if stagedUncompressed {
            // As a dsrd from before staged files were deflated left them: plain bytes, each
            // file in a file of its own (the caller sets an in-memory limit of 0).
            for index in files.indices {
                let path = staging.path + "/" + ExportedFile.stagedName(files[index].path)
                let plain = try inflate(path)
                try FileSystem.writeFile(path, Array(plain))
                files[index].staged = nil
            }
        }
        return (files, staging, folder)
    }

    /// Two attempts assembling one request at once (a daemon paused past its lease while
    /// another took the job over) leave one whole bundle in place, the one both report; a
    /// file that is not this request's bundle is replaced; no partial file stays.
    @Test func twoAttemptsAtOnceKeepTheFirstBundlePlaced() throws {
        let (files, staging, folder) = try Self.stage()
        defer { try? FileManager.default.removeItem(at: folder) }
        let requestID = UUID()
        // The attempts' summaries differ in language, so their bundles differ in bytes.
        func attempt(_ language: Language) -> ExportBundle {
            ExportBundle(
                requestID: requestID, kind: .access, language: language, stores: [], files: files,
                timeZone: TimeZone(identifier: "Asia/Bangkok")!, company: DSRConfiguration.Company())
        }
        let destination = folder.appendingPathComponent("export.zip")
        try FileSystem.writeFile(destination.path, Array("PK not a bundle".utf8))
        var second: ExportBundle.Result?
        let first = try attempt(.thai).write(staging: staging, to: destination, attempt: .init(job: 7, number: 1)) {
            second = try attempt(.english).write(staging: staging, to: destination, attempt: .init(job: 7, number: 2))
        }
        let placed = try Digests.sha256Hex(file: destination)
        #expect(second?.sha256 == placed)
        #expect(first.sha256 == placed)
        #expect(ExportVerifier.problems(path: destination.path) == [])
        #expect(FileSystem.entries(of: folder.path).map(\.name).sorted() == ["export.zip", "staging"])
    }

    @Test func aPartialFileNamesTheExportItWasFor() {
        let partial = URL(
            fileURLWithPath: ExportBundle.partialPath(
                for: URL(fileURLWithPath: "/srv/exports/0a1b.zip"), attempt: .init(job: 42, number: 3)))
        #expect(partial.lastPathComponent == ".0a1b.zip.42-3.partial")
        #expect(partial.deletingLastPathComponent().path == "/srv/exports")
        #expect(ExportBundle.exportName(ofPartial: partial.lastPathComponent) == "0a1b.zip")
        #expect(ExportBundle.exportName(ofPartial: ".0a1b.zip.partial") == "0a1b.zip")  // named by a dsrd before attempts
        #expect(ExportBundle.exportName(ofPartial: "0a1b.zip") == nil)
        #expect(ExportBundle.exportName(ofPartial: ".bashrc.partial") == nil)
    }

    /// Inflates a staged file with Python's zlib (an independent implementation of the reader).
    static func inflate(_ path: String) throws -> Data {
        try python("import sys, zlib; sys.stdout.buffer.write(zlib.decompress(open(sys.argv[1], 'rb').read(), -15))", path)
    }

    static func python(_ script: String, _ arguments: String...) throws -> Data {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", script] + arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        return data
    }

    /// What Python's zipfile makes of the ZIP: each entry's name, size and whether its
    /// CRC-32 checks (`testzip`), plus the JSON table parsed.
    static func pythonReads(_ zip: String) throws -> [String: Any] {
        let script = """
            import json, sys, zipfile
            z = zipfile.ZipFile(sys.argv[1])
            table = json.loads(z.read('ร้านค้า/orders.json'))
            print(json.dumps({'bad': z.testzip(), 'names': sorted(i.filename for i in z.infolist()),
                              'rows': len(table), 'note': table[7]['note'], 'paid': table[7]['paid'],
                              'modes': sorted({i.external_attr >> 16 for i in z.infolist()}),
                              'methods': sorted({i.compress_type for i in z.infolist()})}))
            """
        return try #require(try JSONSerialization.jsonObject(with: python(script, zip)) as? [String: Any])
    }

    @Test(arguments: [UInt64(0xFFFF_FFFF), 1], [StagingPack.defaultInMemoryLimit, 1024])
    func bothReadersAgreeWithTheManifest(zip64Limit: UInt64, inMemoryLimit: Int) throws {
        // A limit of 1 writes every size and offset as ZIP64, as a 4 GiB export would.
        let (zip, files, folder) = try Self.bundle(zip64Limit: zip64Limit, inMemoryLimit: inMemoryLimit)
        defer { try? FileManager.default.removeItem(at: folder) }
        // Small files share the store's pack; with a limit of 1 KiB, the table outgrows it and
        // gets staging files of its own, while the one-row table stays in the pack.
        let staged = FileSystem.entries(of: folder.appendingPathComponent("staging").path).map(\.name).sorted()
        let pack = ExportedFile.requestPackName
        if inMemoryLimit == 1024 {
            #expect(staged == [pack, ExportedFile.stagedName("ร้านค้า/orders.csv"), ExportedFile.stagedName("ร้านค้า/orders.json")])
            #expect(files.map { $0.staged?.packOffset != nil } == [false, false, true])
        } else {
            #expect(staged == [pack])
            #expect(
                files.compactMap(\.staged?.packOffset) == [
                    0, files[0].staged!.deflatedSize, files[0].staged!.deflatedSize + files[1].staged!.deflatedSize,
                ])
        }
        #expect(ExportVerifier.problems(path: zip) == [])
        let read = try Self.pythonReads(zip)
        #expect(read["bad"] is NSNull)
        #expect(
            read["names"] as? [String] == ["manifest.json", "summary.txt", "ร้านค้า/notes.json", "ร้านค้า/orders.csv", "ร้านค้า/orders.json"])
        #expect(read["rows"] as? Int == Self.rows.count)
        #expect(read["note"] as? String == "สมชาย 7, \"quoted\"\nline")
        #expect(read["paid"] as? Bool == false)
        #expect(read["modes"] as? [Int] == [0o100600])
        #expect(read["methods"] as? [Int] == [8])
        // Deflated while staged: far smaller than the file, and the ZIP is about that size.
        let json = try #require(files.first { $0.path.hasSuffix(".json") })
        #expect(try #require(json.staged).deflatedSize * 5 < json.size)
    }

    /// A request whose store tasks ran under an older dsrd left its files uncompressed; the
    /// assembly after an upgrade deflates them itself.
    @Test func filesStagedUncompressedAreStillBundled() throws {
        let (zip, _, folder) = try Self.bundle(zip64Limit: 0xFFFF_FFFF, stagedUncompressed: true, inMemoryLimit: 0)
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(ExportVerifier.problems(path: zip) == [])
        #expect(try Self.pythonReads(zip)["bad"] is NSNull)
        #expect(FileSystem.entries(of: folder.appendingPathComponent("staging").path).allSatisfy { !$0.name.hasSuffix(".deflate") })
    }

    /// A pack cut short (a disk that filled, a file truncated by hand) is not taken for staged:
    /// the assembly exports the store again rather than zip what is left.
    @Test func aPackCutShortIsNotStaged() throws {
        let (_, files, folder) = try Self.bundle(zip64Limit: 0xFFFF_FFFF)
        defer { try? FileManager.default.removeItem(at: folder) }
        let staging = folder.appendingPathComponent("staging")
        #expect(files.allSatisfy { ExportBundle.isStaged($0, in: staging) })
        let pack = staging.path + "/" + ExportedFile.requestPackName
        #expect(truncate(pack, off_t(try #require(FileSystem.size(pack)) - 1)) == 0)
        #expect(files.map { ExportBundle.isStaged($0, in: staging) } == [true, true, false])
        let bundle = ExportBundle(
            requestID: UUID(), kind: .access, language: .english, stores: [], files: files,
            timeZone: TimeZone(identifier: "Asia/Bangkok")!, company: DSRConfiguration.Company())
        #expect(throws: FileSystemError.self) { try bundle.write(staging: staging, to: folder.appendingPathComponent("cut.zip")) }
        #expect(FileSystem.size(folder.appendingPathComponent("cut.zip").path) == nil)
    }

    /// Every store task of a request appends to the request's one pack, several at once (from
    /// any process: the pack is opened `O_APPEND`). A task that runs again appends afresh: the
    /// other stores' bytes stay where their tasks recorded them, since nothing cuts the pack.
    @Test func storesShareTheRequestsPackAndARerunCutsNothing() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("zipwriter-\(UUID().uuidString)")
        let staging = folder.appendingPathComponent("staging")
        try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        func stage(_ store: String, _ note: String) throws -> [ExportedFile] {
            let writer = try TableFileWriter(pack: StagingPack(directory: staging, store: store), table: "t", formats: [.json, .csv])
            for row in 0..<300 { try writer.write(columns: ["note"], values: [.string("\(note) \(row)")]) }
            return try writer.finish()
        }
        let stores = (0..<8).map { "store\($0)" }
        var files = try await withThrowingTaskGroup(of: [ExportedFile].self) { group in
            for store in stores { group.addTask { try stage(store, "\(store) first") } }
            return try await group.reduce([], +)
        }
        #expect(FileSystem.entries(of: staging.path).map(\.name) == [ExportedFile.requestPackName])
        // No two files' bytes overlap.
        let spans = try files.map { (try #require($0.staged?.packOffset), $0.staged!.deflatedSize) }.sorted { $0.0 < $1.0 }
        #expect(zip(spans, spans.dropFirst()).allSatisfy { $0.0 + $0.1 <= $1.0 })
        // store0's task runs again, after the others have finished.
        let before = try #require(FileSystem.size(staging.path + "/" + ExportedFile.requestPackName))
        let again = try stage("store0", "store0 again")
        #expect(again.allSatisfy { ($0.staged?.packOffset ?? -1) >= before })
        files = files.filter { $0.store != "store0" } + again
        #expect(files.allSatisfy { ExportBundle.isStaged($0, in: staging) })
        let bundle = ExportBundle(
            requestID: UUID(), kind: .portability, language: .english, stores: [], files: files.sorted { $0.path < $1.path },
            timeZone: TimeZone(identifier: "Asia/Bangkok")!, company: DSRConfiguration.Company())
        let zip = folder.appendingPathComponent("export.zip")
        _ = try bundle.write(staging: staging, to: zip)
        #expect(ExportVerifier.problems(path: zip.path) == [])
        let script = """
            import json, sys, zipfile
            z = zipfile.ZipFile(sys.argv[1])
            print(json.dumps({'bad': z.testzip(), 'first': {n: json.loads(z.read(n))[299]['note'] for n in z.namelist() if n.endswith('/t.json')}}))
            """
        let read = try #require(try JSONSerialization.jsonObject(with: Self.python(script, zip.path)) as? [String: Any])
        #expect(read["bad"] is NSNull)
        let expected = Dictionary(
            uniqueKeysWithValues: stores.map { ("\($0)/t.json", $0 == "store0" ? "store0 again 299" : "\($0) first 299") })
        #expect(read["first"] as? [String: String] == expected)
    }

    /// A file a store task staged before the request's stores shared one pack is still found
    /// in that store's own pack.
    @Test func aFileInAStoresOwnPackIsStillFound() {
        let staging = URL(fileURLWithPath: "/srv/staging")
        var file = ExportedFile(path: "ร้านค้า/t.json", sha256: "", size: 10, rows: 1, store: "ร้านค้า", table: "t")
        file.staged = .init(crc32: 0, deflatedSize: 4, packOffset: 12)
        #expect(file.stagedLocation(in: staging) == ("/srv/staging/" + ExportedFile.packName(store: "ร้านค้า"), 12))
        file.staged?.pack = ExportedFile.requestPackName
        #expect(file.stagedLocation(in: staging) == ("/srv/staging/%pack", 12))
        file.staged = .init(crc32: 0, deflatedSize: 4)
        #expect(file.stagedLocation(in: staging) == ("/srv/staging/" + ExportedFile.stagedName("ร้านค้า/t.json"), 0))
    }

    @Test func dosTimesAreLocalToTheCompany() throws {
        let noonUTC = try #require(ISO8601DateFormatter().date(from: "2026-11-27T05:00:08Z"))
        let (date, time) = ZIPWriter.dosDateTime(noonUTC, timeZone: try #require(TimeZone(identifier: "Asia/Bangkok")))
        #expect(date == UInt16(2026 - 1980) << 9 | 11 << 5 | 27)
        #expect(time == 12 << 11 | 0 << 5 | 4)
    }
}
