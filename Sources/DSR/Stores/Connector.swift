import Foundation

/// What the authoritative tables of a store said about a person.
public struct Resolution: Sendable, Equatable {
    /// Identifiers found on the matched rows (normalised).
    public var identity: IdentitySet
    /// Distinct authoritative rows matched (more than one on a phone-only request means the
    /// phone is shared and the person must be identified another way).
    public var matches: Int
    /// Personal-details columns (`table.column`, category `personal`) on which the matched
    /// authoritative rows disagree: records joined by an identifier that may belong to
    /// different people. Column names only, never values.
    public var conflicts: [String] = []

    public init(identity: IdentitySet, matches: Int, conflicts: [String] = []) {
        self.identity = identity
        self.matches = matches
        self.conflicts = conflicts
    }
}

/// One file of an export, as listed in `manifest.json`.
public struct ExportedFile: Codable, Sendable, Equatable {
    /// Path inside the bundle, e.g. `customer/customers.json`.
    public var path: String
    /// SHA-256 and size of the file itself (not of its compressed form).
    public var sha256: String
    public var size: Int
    public var rows: Int
    public var store: String
    public var table: String
    /// How the file sits in its request's staging folder: deflated, as its ZIP entry will
    /// hold it. Nil for a file staged uncompressed (by dsrd before 2026-11-27), which the
    /// assembly compresses itself. Not part of the manifest.
    public var staged: Staged?

    public struct Staged: Codable, Sendable, Equatable {
        /// CRC-32 of the file before compression, as a ZIP entry records it.
        public var crc32: UInt32
        /// Bytes of raw DEFLATE in the staging folder.
        public var deflatedSize: Int
        /// Where those bytes begin in the pack; nil when the file has a staging file of its
        /// own (``ExportedFile/stagedName(_:)``), as a large one does, and as every file did
        /// before packs.
        public var packOffset: Int? = nil
        /// The pack's name in the staging folder: the request's one pack
        /// (``ExportedFile/requestPackName``). Nil with an offset: the store's own pack
        /// (``ExportedFile/packName(store:)``), as store tasks wrote them before the request's
        /// stores shared one.
        public var pack: String? = nil
    }

    public init(path: String, sha256: String, size: Int, rows: Int, store: String, table: String, staged: Staged? = nil) {
        self.path = path
        self.sha256 = sha256
        self.size = size
        self.rows = rows
        self.store = store
        self.table = table
        self.staged = staged
    }

    /// The file as `manifest.json` lists it: without its staging details.
    public var listed: ExportedFile {
        var file = self
        file.staged = nil
        return file
    }

    /// The file staged for it: the path of the file that holds its deflated bytes, and where
    /// they begin in it.
    public func stagedLocation(in staging: URL) -> (path: String, offset: Int) {
        if let offset = staged?.packOffset { return (staging.path + "/" + (staged?.pack ?? Self.packName(store: store)), offset) }
        return (staging.path + "/" + Self.stagedName(path), 0)
    }

    /// The name of the pack that all of a request's store tasks append to (``StagingPack``).
    /// `%p` appears in no staged name (`%` is escaped as `%25`), so no table's file can take it.
    public static let requestPackName = "%pack"

    /// The name of a store's own pack, as store tasks wrote them before a request's stores
    /// shared one (still read, for a request staged by an older dsrd). It starts with the
    /// store's staged-name prefix, so removing a store's staged files removed it too.
    public static func packName(store: String) -> String {
        stagedName(store + "/") + "%pack"
    }

    /// The file's name in its request's staging folder: its path in the bundle with `%` and
    /// `/` escaped, so all of a request's files sit in one folder (creating a folder per
    /// store cost more than writing the files).
    public static func stagedName(_ path: String) -> String {
        // Byte by byte: Foundation's replacingOccurrences cost 1.6% of the daemon's CPU on an
        // access request, for 26 names.
        var name = [UInt8]()
        name.reserveCapacity(path.utf8.count + 8)
        for byte in path.utf8 {
            switch byte {
            case UInt8(ascii: "%"): name += [UInt8(ascii: "%"), UInt8(ascii: "2"), UInt8(ascii: "5")]
            case UInt8(ascii: "/"): name += [UInt8(ascii: "%"), UInt8(ascii: "2"), UInt8(ascii: "F")]
            default: name.append(byte)
            }
        }
        return String(decoding: name, as: UTF8.self)
    }
}

public struct ExportFormats: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    public static let json = ExportFormats(rawValue: 1)
    public static let csv = ExportFormats(rawValue: 2)
}

/// A store that can be searched for, and act on, one person's data. Implementations must be
/// idempotent: a task can run again after a crash.
public protocol Connector: Sendable {
    var mapping: StoreMapping { get }
    /// Matches the authoritative tables and returns the identifiers found there.
    func resolve(_ identity: IdentitySet) async throws -> Resolution
    /// Rows per table that belong to the person.
    func discover(_ identity: IdentitySet) async throws -> [String: Int]
    /// Writes the person's rows, table by table, under `directory/<store>/`, streaming.
    func export(_ identity: IdentitySet, into directory: URL, formats: ExportFormats) async throws -> [ExportedFile]
    /// Erases the person following the mapping's strategies and holds, handing what it did
    /// to `record` before that becomes durable in the store.
    func erase(_ identity: IdentitySet, keys: ProofKeys, record: @Sendable (StoreErasure) async throws -> Void) async throws
        -> StoreErasure
    /// What is left of the person after an erasure, per table (see `StoreErasure.Remainder`).
    func remainder(_ identity: IdentitySet) async throws -> [String: StoreErasure.Remainder]
    /// Rectifies, restricts, or stops processing (objection, consent withdrawal). `beforeCommit`
    /// runs just before the change becomes durable; if it throws, nothing is changed.
    func update(_ identity: IdentitySet, change: StoreChange, beforeCommit: @Sendable () async throws -> Void) async throws
        -> StoreUpdate
}

public enum ConnectorError: Error, CustomStringConvertible {
    case unreachable(store: String, reason: String)
    case invalidResponse(store: String, reason: String)

    public var description: String {
        switch self {
        case .unreachable(let store, let reason): "store \(store) is unreachable: \(reason)"
        case .invalidResponse(let store, let reason): "store \(store) answered unexpectedly: \(reason)"
        }
    }
}
