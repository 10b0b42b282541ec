import Postgres

/// The PostgreSQL error `body` raised, or nil when it succeeded (or failed otherwise): for
/// tests of guards and permissions, which check what the server refused and why.
public func postgresError(_ body: () async throws -> Void) async -> PostgresError? {
    do {
        try await body()
        return nil
    } catch let error as PostgresError {
        return error
    } catch {
        return nil
    }
}
