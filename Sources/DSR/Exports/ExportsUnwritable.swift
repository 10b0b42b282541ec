/// The export folders cannot be created or written (`exports.directory`): a full disk, a
/// missing mount, permissions. Not a configuration error: the same setting works once the
/// folder is back, so jobs retry and `dsrd run` exits 73 (EX_CANTCREAT), which systemd
/// restarts, instead of 78, which it gives up on.
public struct ExportsUnwritable: Error, CustomStringConvertible {
    public let path: String

    public var description: String { "exports.directory: cannot create \(path)" }
}
