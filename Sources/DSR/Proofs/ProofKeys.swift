import Crypto
import Foundation

/// The daemon's proof key: an Ed25519 signing key kept in a file outside the database
/// (`proofs.signing_key_file`, made by `dsrd keygen`). The key used for keyed hashes of
/// identifiers (in proofs and the marketing suppression list) is derived from it with HKDF,
/// so there is one secret to guard and back up.
public struct ProofKeys: Sendable {
    // Raw bytes: swift-crypto's key types are not Sendable.
    private let signingRaw: Data
    private let identifierRaw: Data

    public init(signing: Curve25519.Signing.PrivateKey) {
        signingRaw = signing.rawRepresentation
        identifierRaw = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: SymmetricKey(data: signing.rawRepresentation),
            info: Data("dsrd identifier hash v1".utf8), outputByteCount: 32
        ).withUnsafeBytes { Data($0) }
    }

    public var signing: Curve25519.Signing.PrivateKey {
        // The bytes came from a valid key in init.
        try! Curve25519.Signing.PrivateKey(rawRepresentation: signingRaw)
    }

    var identifierKey: SymmetricKey { SymmetricKey(data: identifierRaw) }

    public var publicKey: Curve25519.Signing.PublicKey { signing.publicKey }
    public var keyID: String { Self.keyID(of: publicKey) }

    public static func keyID(of publicKey: Curve25519.Signing.PublicKey) -> String {
        String(Digests.sha256Hex(publicKey.rawRepresentation).prefix(16))
    }

    /// HMAC-SHA256 of a normalised identifier, hex.
    public func identifierHash(_ value: String) -> String {
        Digests.hex(HMAC<SHA256>.authenticationCode(for: Data(value.utf8), using: identifierKey))
    }

    public static func load(privateKeyFile path: String) throws -> ProofKeys {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
            let raw = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines))
        else { throw ConfigurationError("proofs.signing_key_file: cannot read an Ed25519 key from \(path) (make one with dsrd keygen)") }
        do {
            return ProofKeys(signing: try Curve25519.Signing.PrivateKey(rawRepresentation: raw))
        } catch {
            throw ConfigurationError("proofs.signing_key_file: \(path) does not hold an Ed25519 private key")
        }
    }

    public static func loadPublicKey(_ path: String) throws -> Curve25519.Signing.PublicKey {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
            let raw = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)),
            let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw)
        else { throw ConfigurationError("\(path) does not hold an Ed25519 public key") }
        return key
    }

    /// Writes a new key pair: `PREFIX.key` (0600) and `PREFIX.pub`. Refuses to overwrite.
    public static func generate(prefix: String) throws -> (privatePath: String, publicPath: String, keyID: String) {
        let privatePath = prefix + ".key"
        let publicPath = prefix + ".pub"
        for path in [privatePath, publicPath] where FileManager.default.fileExists(atPath: path) {
            throw ConfigurationError("\(path) exists; move it away first (a proof key is never overwritten)")
        }
        let key = Curve25519.Signing.PrivateKey()
        guard
            FileManager.default.createFile(
                atPath: privatePath, contents: Data((key.rawRepresentation.base64EncodedString() + "\n").utf8),
                attributes: [.posixPermissions: 0o600])
        else { throw unwritable(privatePath) }
        guard
            FileManager.default.createFile(
                atPath: publicPath, contents: Data((key.publicKey.rawRepresentation.base64EncodedString() + "\n").utf8),
                attributes: [.posixPermissions: 0o644])
        else { throw unwritable(publicPath) }
        return (privatePath, publicPath, keyID(of: key.publicKey))
    }

    /// Why `path` could not be created: its folder is missing, or this user may not write there.
    static func unwritable(_ path: String) -> ConfigurationError {
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder), isFolder.boolValue else {
            return ConfigurationError(
                "cannot write \(path): the folder \(folder) does not exist; create it first (readable by dsrd's user only)")
        }
        return ConfigurationError("cannot write \(path): this user may not create files in \(folder)")
    }
}
