import Postgres

extension PostgresRow {
    /// A text column decoded as one of dsrd's enums (statuses, kinds, channels). A value this
    /// dsrd does not know fails the job for good, naming `what` the row is: retrying cannot help.
    func decode<Value: RawRepresentable>(_ column: String, as: Value.Type, of what: String) throws -> Value
    where Value.RawValue == String {
        let text = try decode(column, as: String.self)
        guard let value = Value(rawValue: text) else { throw JobFailure.permanent("\(what) has an unknown \(column) \(text)") }
        return value
    }
}
