/// dsrd's version, reported in `dsr.workers`, `dsrd --version` and (later) deletion proofs.
public enum DSRVersion {
    public static let current = "0.1.0"
}
