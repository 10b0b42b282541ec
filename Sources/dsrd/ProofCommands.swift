import ArgumentParser
import DSR
import Foundation
import Postgres

struct Keygen: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create the Ed25519 key pair that signs deletion proofs.",
        discussion: """
            Writes PREFIX.key (private, 0600: point proofs.signing_key_file at it, keep it out of \
            the database and back it up) and PREFIX.pub (give it to whoever verifies proofs). \
            Never overwrites an existing key.
            """)

    @Argument(help: "Path prefix, e.g. /etc/dsrd/proof-signing") var prefix: String

    mutating func run() async throws {
        let prefix = self.prefix
        try await reportingFailures {
            do {
                let written = try ProofKeys.generate(prefix: prefix)
                print("private key: \(written.privatePath) (keep secret; proofs.signing_key_file)")
                print("public key:  \(written.publicPath) (key id \(written.keyID))")
            } catch let error as ConfigurationError {
                throw Failure(message: error.description, exitCode: .configuration)
            }
        }
    }
}

struct VerifyProof: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify-proof",
        abstract: "Check a deletion proof: signature, digest and audit-chain entry (offline with only the public key).",
        discussion: """
            Exit 0 and "VALID" when the proof is intact; exit 1 and "INVALID" with the reasons \
            otherwise. With --check-database it also confirms, in dsr.audit_log, that the entry \
            exists with the same digest and that every link of the chain up to it is intact.
            """)

    @OptionGroup var options: CommonOptions
    @Argument(help: "The proof file (exports.directory/proofs/<request>.json).") var file: String
    @Option(help: "The signing public key (PREFIX.pub from dsrd keygen).") var publicKey: String
    @Flag(help: "Also check the entry against the audit log in the database.") var checkDatabase = false

    mutating func run() async throws {
        let (options, file, publicKeyPath, checkDatabase) = (self.options, self.file, self.publicKey, self.checkDatabase)
        var valid = false
        try await reportingFailures {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw Failure(message: "cannot read \(file)", exitCode: .dataError)
            }
            let key: Curve25519PublicKeyBox
            do {
                key = Curve25519PublicKeyBox(try ProofKeys.loadPublicKey(publicKeyPath))
            } catch let error as ConfigurationError {
                throw Failure(message: error.description, exitCode: .dataError)
            }
            var verdict = ProofVerifier.verify(file: data, publicKey: key.key)
            if checkDatabase, let requestID = verdict.requestID, let seq = verdict.seq {
                let connection = try await options.connect(try options.loadConfiguration())
                verdict.reasons += try await AuditChain.check(connection: connection, requestID: requestID, seq: seq, proof: data)
                verdict.valid = verdict.reasons.isEmpty
            }
            if verdict.valid {
                print(
                    "VALID: \(verdict.isSweep ? "retention sweep proof for sweep" : "deletion proof for request") \(verdict.requestID ?? "?"), signed by this key, audit entry #\(verdict.seq ?? 0)"
                        + (checkDatabase ? " present and chain intact" : " consistent"))
                valid = true
            } else {
                print("INVALID:")
                for reason in verdict.reasons { print("  - \(reason)") }
            }
        }
        if !valid { throw ExitCode(1) }
    }
}
