/// The seed company (SmartTec Enterprise, Bangkok; `../shared/seed`), as the `[company]`
/// settings tests, the benchmark and the demo run with: the shipped Config/dsrd.toml leaves
/// them empty, and `dsrd run` refuses to start without them.
public enum SeedCompany {
    public static let settings: [(key: String, value: String)] = [
        ("company.name_th", "บริษัท สมาร์ทเทค เอ็นเตอร์ไพรส์ จำกัด"),
        ("company.name_en", "SmartTec Enterprise Co., Ltd."),
        ("company.short_name", "SmartTec"),
        ("company.contact_email", "filmsmarttec@gmail.com"),
        ("company.contact_phone", "02-444-3044"),
    ]

    /// `--set key=value` for each setting.
    public static var arguments: [String] { settings.flatMap { ["--set", "\($0.key)=\($0.value)"] } }
}
