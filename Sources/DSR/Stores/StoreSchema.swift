import Foundation
import Postgres

/// What a store's catalog says about the tables a mapping names: columns and their types,
/// primary keys, indexes, foreign keys and size. dsrd reads it once per connector (and again
/// after a statement fails on the schema), so that lookups compare a column in its own type
/// (an integer key as an integer, which its primary-key index serves) and `dsrd check` can
/// hold a mapping against the real tables.
public struct StoreSchema: Sendable {
    public struct Column: Sendable, Equatable {
        public var name: String
        /// `format_type`, e.g. `integer`, `character varying(64)`, `timestamp with time zone`.
        public var type: String
        public var typeOID: UInt32
        public var notNull: Bool
        /// `GENERATED ALWAYS AS (…) STORED`: computed by PostgreSQL, written by nobody.
        public var generated = false

        /// How a customer id in this column is compared without losing its indexes.
        var exactComparison: ExactComparison {
            switch typeOID {
            case 20, 21, 23: .integer
            case 1700: .numeric
            case 2950: .uuid
            case 25, 1043: .text
            default: .textCast
            }
        }

        /// text, char, varchar, and the citext extension's case-insensitive text.
        var isText: Bool { [25, 1042, 1043].contains(typeOID) || type == "citext" || type.hasSuffix(".citext") }
        var isBoolean: Bool { typeOID == 16 }
        /// What the column's values compare with: columns of different families cannot be
        /// joined (`uuid = bigint` has no operator).
        var family: String {
            if isText { return "text" }
            if isBoolean { return "boolean" }
            if isDateOrTime { return "date" }
            switch typeOID {
            case 20, 21, 23, 26, 700, 701, 1700: return "number"
            case 2950: return "uuid"
            default: return type
            }
        }
        var isDateOrTime: Bool { [1082, 1114, 1184].contains(typeOID) }
        var isTimestamp: Bool { [1114, 1184].contains(typeOID) }
    }

    public enum ExactComparison: Sendable, Equatable {
        case integer, numeric, uuid, text
        /// Any other type: compared as text (`column::text`), which only an expression index serves.
        case textCast
    }

    public struct Index: Sendable, Equatable {
        public var name: String
        /// Each key: a column's name, or an expression as `pg_get_indexdef` prints it.
        public var keys: [String]
        public var unique: Bool
        public var partial: Bool
    }

    public struct ForeignKey: Sendable, Equatable {
        public var columns: [String]
        public var referencedTable: String
        public var referencedColumns: [String]
        /// The constraint's name, for messages.
        public var name: String = ""

        /// Whether this key links `column` to `table.references`, alone or as one pair of a
        /// composite key (`(order_id, order_date)` → `orders (id, order_date)` links
        /// `order_id` to `orders.id`).
        public func links(_ column: String, to table: String, _ references: String) -> Bool {
            referencedTable == table && zip(columns, referencedColumns).contains { $0 == column && $1 == references }
        }
    }

    /// A trigger or rule that sees a table's deletes first.
    public struct DeleteInterceptor: Sendable, Equatable {
        /// e.g. `trigger invoices_no_delete runs BEFORE DELETE`.
        public var description: String
        /// An ON DELETE DO INSTEAD rule that is conditional or returns nothing: PostgreSQL
        /// refuses `DELETE … RETURNING`, which dsrd's erasure runs, on the table (0A000).
        public var refusesReturning: Bool
    }

    /// An enabled trigger on a table (or one of its partitions) that fires on UPDATE or DELETE.
    public struct Trigger: Sendable, Equatable {
        public var name: String
        public var before: Bool
        public var insteadOf: Bool
        public var onUpdate: Bool
        public var onDelete: Bool

        /// e.g. `trigger customers_audit runs AFTER UPDATE OR DELETE`.
        public var description: String {
            let timing = before ? "BEFORE" : (insteadOf ? "INSTEAD OF" : "AFTER")
            let events = [onUpdate ? "UPDATE" : nil, onDelete ? "DELETE" : nil].compactMap { $0 }.joined(separator: " OR ")
            return "trigger \(name) runs \(timing) \(events)"
        }

        /// A BEFORE DELETE trigger sees the table's deletes first: it may refuse or redirect them.
        public var interceptsDeletes: Bool { before && onDelete }
    }

    /// A CHECK constraint of a mapped table and the columns it mentions.
    public struct Check: Sendable, Equatable {
        public var name: String
        public var columns: [String]
    }

    /// A foreign key of any table in the store, mapped or not, that points at a mapped table.
    public struct Reference: Sendable, Equatable {
        /// The referencing table as PostgreSQL names it in SQL (`regclass`: quoted, and
        /// schema-qualified when outside the `search_path`).
        public var referencingTable: String
        /// Its bare name, and whether the mapping names it.
        public var referencingName: String
        public var columns: [String]
        public var referencedColumns: [String]
        /// Whether dsrd's role may read the referencing columns (USAGE on the table's schema,
        /// SELECT on the table or on those columns). When it may not, which rows it references
        /// cannot be known, so all are kept.
        public var readable: Bool = true
        /// The schema the referencing table is in (`dsrd grants` gives USAGE on it).
        public var schemaName: String = "public"

        /// The referencing table named with its schema, as ``Table/qualifiedName`` names a
        /// mapped one, whatever dsrd's `search_path` (`dsrd grants` output runs in psql).
        public var qualifiedName: String { SQLStatements.quote(schemaName) + "." + SQLStatements.quote(referencingName) }
    }

    public struct Table: Sendable, Equatable {
        public var name: String
        public var columns: [Column]
        public var primaryKey: [String]
        public var indexes: [Index]
        public var foreignKeys: [ForeignKey]
        /// Foreign keys of any table (mapped or not) that point at this one. A partition's
        /// foreign keys count as its partitioned table's (the root's), whose reads cover its rows;
        /// the copies PostgreSQL makes of a partitioned table's key (`conparentid <> 0`) are not
        /// separate references.
        public var referencedBy: [Reference] = []
        /// Whether the table is partitioned (`relkind = 'p'`): it holds no rows itself, and
        /// PostgreSQL builds no index on it CONCURRENTLY.
        public var isPartitioned = false
        /// Its partitions at every level: read, erased and granted through it, never mapped.
        public var partitions: [String] = []
        /// CHECK constraints, which may refuse a hashed or masked value.
        public var checks: [Check] = []
        /// Enabled BEFORE DELETE triggers (on the table or its partitions) and ON DELETE DO
        /// INSTEAD rules: they may refuse or redirect deletes.
        public var deleteInterceptors: [DeleteInterceptor] = []
        /// Enabled triggers (on the table or its partitions) that fire on UPDATE or DELETE:
        /// what they write elsewhere is outside dsrd's grants and may copy the person's data.
        public var writeTriggers: [Trigger] = []
        /// The planner's estimate (`pg_class.reltuples`); 0 when never analysed.
        public var estimatedRows: Int64
        /// The schema the connection's `search_path` found the table in.
        public var schemaName: String = "public"
        /// Whether the connection's role may read it (SELECT): no statement on a table it may
        /// not read can be planned.
        public var readable = true

        /// The table named with its schema, for statements run outside dsrd's connection
        /// (`dsrd indexes`, `dsrd grants` in psql, whose `search_path` may not find it).
        public var qualifiedName: String { SQLStatements.quote(schemaName) + "." + SQLStatements.quote(name) }

        public func column(_ name: String) -> Column? { columns.first { $0.name == name } }

        /// Whether some unique index (or the primary key) is exactly on these columns.
        public func isUnique(_ names: [String]) -> Bool {
            indexes.contains { $0.unique && !$0.partial && Set($0.keys) == Set(names) && $0.keys.count == names.count }
        }
    }

    /// Mapped tables that exist, by name. A mapped table missing here does not exist (in the
    /// connection's `search_path`).
    public var tables: [String: Table]

    public init(tables: [String: Table]) { self.tables = tables }

    /// Reads the catalog for `names` (resolved through the connection's `search_path`).
    public static func load(_ names: [String], on connection: isolated PostgresConnection) throws -> StoreSchema {
        let mapped = "WITH mapped AS (SELECT name, to_regclass(quote_ident(name)) AS rel FROM unnest($1::text[]) AS name)"
        // A foreign key `k`'s columns, and the columns they reference, in the key's order.
        let keyColumns = """
            array(SELECT a.attname::text FROM unnest(k.conkey) WITH ORDINALITY AS u(n, o)
                           JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n ORDER BY u.o) AS columns,
                   array(SELECT a.attname::text FROM unnest(k.confkey) WITH ORDINALITY AS u(n, o)
                           JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.n ORDER BY u.o) AS referenced_columns
            """
        var tables: [String: Table] = [:]
        for row in try connection.query(
            """
            \(mapped) SELECT m.name, greatest(c.reltuples, 0)::int8 AS rows, n.nspname::text AS schema, c.relkind = 'p' AS partitioned,
                   has_table_privilege(c.oid, 'SELECT') AS readable
              FROM mapped m JOIN pg_class c ON c.oid = m.rel JOIN pg_namespace n ON n.oid = c.relnamespace
            """, [names])
        {
            let name = try row.decode("name", as: String.self)
            tables[name] = Table(
                name: name, columns: [], primaryKey: [], indexes: [], foreignKeys: [],
                estimatedRows: try row.decode("rows", as: Int64.self),
                schemaName: try row.decode("schema", as: String.self))
            tables[name]?.isPartitioned = try row.decode("partitioned", as: Bool.self)
            tables[name]?.readable = try row.decode("readable", as: Bool.self)
        }
        for row in try connection.query(
            """
            \(mapped)
            SELECT m.name, c.relname::text AS partition
              FROM mapped m CROSS JOIN LATERAL pg_partition_tree(m.rel) AS p JOIN pg_class c ON c.oid = p.relid
             WHERE p.relid <> m.rel ORDER BY 1, 2
            """, [names])
        {
            tables[try row.decode("name", as: String.self)]?.partitions.append(try row.decode("partition", as: String.self))
        }
        for row in try connection.query(
            """
            \(mapped)
            SELECT m.name, a.attname, format_type(a.atttypid, a.atttypmod) AS type, a.atttypid::int8 AS oid, a.attnotnull,
                   a.attgenerated <> '' AS generated
              FROM mapped m JOIN pg_attribute a ON a.attrelid = m.rel
             WHERE a.attnum > 0 AND NOT a.attisdropped ORDER BY m.name, a.attnum
            """, [names])
        {
            tables[try row.decode("name", as: String.self)]?.columns.append(
                Column(
                    name: try row.decode("attname", as: String.self), type: try row.decode("type", as: String.self),
                    typeOID: UInt32(try row.decode("oid", as: Int64.self)), notNull: try row.decode("attnotnull", as: Bool.self),
                    generated: try row.decode("generated", as: Bool.self)))
        }
        for row in try connection.query(
            """
            \(mapped)
            SELECT m.name, i.indexrelid::regclass::text AS index, i.indisunique, i.indisprimary, i.indpred IS NOT NULL AS partial,
                   array(SELECT coalesce((SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = i.indrelid AND a.attnum = i.indkey[k - 1]),
                                         pg_get_indexdef(i.indexrelid, k, true))
                           FROM generate_series(1, i.indnkeyatts) AS k ORDER BY k) AS keys
              FROM mapped m JOIN pg_index i ON i.indrelid = m.rel ORDER BY 1, 2
            """, [names])
        {
            let name = try row.decode("name", as: String.self)
            let index = Index(
                name: try row.decode("index", as: String.self), keys: try row.decode("keys", as: [String].self),
                unique: try row.decode("indisunique", as: Bool.self), partial: try row.decode("partial", as: Bool.self))
            tables[name]?.indexes.append(index)
            if try row.decode("indisprimary", as: Bool.self) { tables[name]?.primaryKey = index.keys }
        }
        for row in try connection.query(
            """
            \(mapped)
            SELECT m.name, r.relname AS referenced, k.conname::text AS constraint,
                   \(keyColumns)
              FROM mapped m JOIN pg_constraint k ON k.conrelid = m.rel AND k.contype = 'f' AND k.conparentid = 0
              JOIN pg_class r ON r.oid = k.confrelid
             ORDER BY 1, 2, 3
            """, [names])
        {
            tables[try row.decode("name", as: String.self)]?.foreignKeys.append(
                ForeignKey(
                    columns: try row.decode("columns", as: [String].self), referencedTable: try row.decode("referenced", as: String.self),
                    referencedColumns: try row.decode("referenced_columns", as: [String].self),
                    name: try row.decode("constraint", as: String.self)))
        }
        for row in try connection.query(
            """
            \(mapped)
            SELECT DISTINCT m.name, c.oid::regclass::text AS referencing, c.relname AS referencing_name,
                   has_schema_privilege(c.relnamespace, 'USAGE')
                   AND NOT EXISTS (SELECT 1 FROM unnest(k.conkey) AS u(n) JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n
                                    WHERE NOT has_column_privilege(c.oid, a.attname, 'SELECT')) AS readable,
                   \(keyColumns),
                   (SELECT s.nspname::text FROM pg_namespace s WHERE s.oid = c.relnamespace) AS referencing_schema
              FROM mapped m JOIN pg_constraint k ON k.confrelid = m.rel AND k.contype = 'f' AND k.conparentid = 0
              JOIN pg_class c ON c.oid = coalesce(pg_partition_root(k.conrelid), k.conrelid)
             ORDER BY 1, 2, 4
            """, [names])
        {
            tables[try row.decode("name", as: String.self)]?.referencedBy.append(
                Reference(
                    referencingTable: try row.decode("referencing", as: String.self),
                    referencingName: try row.decode("referencing_name", as: String.self),
                    columns: try row.decode("columns", as: [String].self),
                    referencedColumns: try row.decode("referenced_columns", as: [String].self),
                    readable: try row.decode("readable", as: Bool.self),
                    schemaName: try row.decode("referencing_schema", as: String.self)))
        }
        for row in try connection.query(
            """
            \(mapped)
            SELECT m.name, k.conname::text AS constraint,
                   array(SELECT a.attname::text FROM unnest(k.conkey) AS u(n)
                           JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.n ORDER BY 1) AS columns
              FROM mapped m JOIN pg_constraint k ON k.conrelid = m.rel AND k.contype = 'c' ORDER BY 1, 2
            """, [names])
        {
            tables[try row.decode("name", as: String.self)]?.checks.append(
                Check(name: try row.decode("constraint", as: String.self), columns: try row.decode("columns", as: [String].self)))
        }
        // Triggers on partitions fire through the partitioned table too; those PostgreSQL
        // copies from the partitioned table's own have its name (DISTINCT).
        for row in try connection.query(
            """
            \(mapped)
            SELECT DISTINCT m.name, t.tgname::text AS trigger, t.tgtype & 2 <> 0 AS before, t.tgtype & 64 <> 0 AS instead_of,
                   t.tgtype & 16 <> 0 AS on_update, t.tgtype & 8 <> 0 AS on_delete
              FROM mapped m JOIN pg_trigger t ON t.tgrelid = m.rel OR t.tgrelid IN (SELECT relid FROM pg_partition_tree(m.rel))
             WHERE NOT t.tgisinternal AND t.tgenabled <> 'D' AND t.tgtype & 24 <> 0
             ORDER BY 1, 2
            """, [names])
        {
            tables[try row.decode("name", as: String.self)]?.writeTriggers.append(
                Trigger(
                    name: try row.decode("trigger", as: String.self), before: try row.decode("before", as: Bool.self),
                    insteadOf: try row.decode("instead_of", as: Bool.self), onUpdate: try row.decode("on_update", as: Bool.self),
                    onDelete: try row.decode("on_delete", as: Bool.self)))
        }
        // Rules apply to the table a statement names only.
        for row in try connection.query(
            """
            \(mapped)
            SELECT m.name, 'rule ' || r.rulename || ' is ON DELETE DO INSTEAD' AS interceptor,
                   r.ev_qual <> '<>' OR pg_get_ruledef(r.oid) NOT LIKE '%RETURNING%' AS refuses_returning
              FROM mapped m JOIN pg_rewrite r ON r.ev_class = m.rel
             WHERE r.ev_type = '4' AND r.is_instead AND r.ev_enabled <> 'D'
            """, [names])
        {
            tables[try row.decode("name", as: String.self)]?.deleteInterceptors.append(
                DeleteInterceptor(
                    description: try row.decode("interceptor", as: String.self),
                    refusesReturning: try row.decode("refuses_returning", as: Bool.self)))
        }
        for name in tables.keys {
            guard var table = tables[name] else { continue }
            table.deleteInterceptors += table.writeTriggers.filter(\.interceptsDeletes).map {
                DeleteInterceptor(description: "trigger \($0.name) runs BEFORE DELETE", refusesReturning: false)
            }
            table.deleteInterceptors.sort { $0.description < $1.description }
            tables[name] = table
        }
        return StoreSchema(tables: tables)
    }
}
