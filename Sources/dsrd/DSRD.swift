import ArgumentParser
import DSR

@main
struct DSRD: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dsrd",
        abstract: "Fulfils data-subject-rights requests (PDPA/GDPR) from a PostgreSQL job queue.",
        discussion: """
            Requests enter with `dsrd submit` or `SELECT dsr.submit(...)` in psql. `dsrd run` \
            works them off: it fans out to the configured stores, assembles exports and deletion \
            proofs, and sends notices. Operators watch it with `dsrd status` or the dsr.* views.

            Configuration: defaults < the TOML file (--config, $DSRD_CONFIG or \
            /etc/dsrd/dsrd.toml) < DSRD_SECTION_KEY environment variables < --set section.key=value. \
            Config/dsrd.toml documents every key.
            """,
        version: DSRVersion.current,
        subcommands: [
            Run.self, Migrate.self, Submit.self, Status.self, ShowConfig.self, Templates.self, Demo.self, Check.self, Indexes.self,
            Grants.self, Ropa.self, Report.self,
            Keygen.self, VerifyProof.self, Portal.self, Breach.self, Sweep.self,
        ]
    )
}
