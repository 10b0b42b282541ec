import Foundation

/// Finished export files in `exports.directory`, by the name a request recorded.
public enum ExportFiles {
    /// Whether `name` is one dsrd gives an export (`<32 hex>.zip`): only such names are ever
    /// joined to `exports.directory`.
    public static func isExportName(_ name: String) -> Bool {
        name.hasSuffix(".zip") && Digests.isHex(String(name.dropLast(4)), length: 32)
    }

    /// Deletes one export; an export already gone is fine (a re-run after a crash). Names are
    /// dsrd's own; anything else is refused rather than joined to a path.
    static func delete(_ name: String, in directory: URL) throws {
        guard isExportName(name) else {
            throw JobFailure.permanent("not an export file name: \(name)")
        }
        do {
            try FileManager.default.removeItem(at: directory.appendingPathComponent(name))
        } catch CocoaError.fileNoSuchFile {
            return
        } catch let error as NSError where error.domain == NSPOSIXErrorDomain && error.code == Int(ENOENT) {
            return
        }
    }
}
