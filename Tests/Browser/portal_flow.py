#!/usr/bin/python3
"""Drives the privacy portal in a real browser (Debian's chromium through chromium-driver and
python3-selenium), in Thai, as a person would: choose a right, give an identifier, submit,
read the one-time code from the SMTP sink's mail folder, enter it, wait for the answer, and
for an export download it, check its manifest and see a second download refused.

Prints one JSON object with what it saw; exits 1 with the reason on any failure. Every wait
is for a condition the portal or the mail folder shows, bounded by --timeout.
"""
import argparse
import email
import email.header
import email.policy
import glob
import json
import os
import re
import sys
import time
import zipfile

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait


def fail(message):
    print(json.dumps({"ok": False, "error": message}))
    sys.exit(1)


def browser(downloads):
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=900,1400", "--lang=th-TH"):
        options.add_argument(argument)
    options.add_experimental_option("prefs", {
        "download.default_directory": downloads, "download.prompt_for_download": False,
        "intl.accept_languages": "th-TH,th"})
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def mailed_code(mail_dir, recipient):
    """The code in the newest verification mail to recipient, if one arrived."""
    found = None
    for path in sorted(glob.glob(os.path.join(mail_dir, "*.eml")), key=os.path.getmtime):
        with open(path, "rb") as handle:
            message = email.message_from_binary_file(handle, policy=email.policy.default)
        if recipient not in str(message["To"]):
            continue
        # The code is on a line of its own in the body, never in the subject.
        body = message.get_body(preferencelist=("plain",))
        match = re.search(r"^ {4}(\d{6})\s*$", body.get_content() if body else "", re.MULTILINE)
        if match:
            found = match.group(1)
    return found


def requested_urls(driver):
    urls = []
    for entry in driver.get_log("performance"):
        event = json.loads(entry["message"])["message"]
        if event.get("method") == "Network.requestWillBeSent":
            urls.append(event["params"]["request"]["url"])
    return urls


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--kind", choices=["access", "erasure"], required=True)
    parser.add_argument("--identifier", required=True, help="field=value typed into the form")
    parser.add_argument("--on-file", required=True, help="the email the stores hold: where the code must arrive")
    parser.add_argument("--mail-dir", required=True)
    parser.add_argument("--downloads", required=True)
    parser.add_argument("--screenshots", required=True)
    parser.add_argument("--timeout", type=float, default=90)
    arguments = parser.parse_args()
    seen = {"ok": True}
    driver = browser(arguments.downloads)
    wait = WebDriverWait(driver, arguments.timeout, poll_frequency=0.2)
    try:
        driver.get(arguments.url + "/")
        if driver.execute_script("return document.documentElement.lang") != "th":
            fail("the portal did not open in Thai")
        seen["title"] = driver.title
        driver.find_element(By.CSS_SELECTOR, "input[name=kind][value=%s]" % arguments.kind).click()
        field, value = arguments.identifier.split("=", 1)
        driver.find_element(By.NAME, field).send_keys(value)
        driver.save_screenshot(os.path.join(arguments.screenshots, "portal-%s-form.png" % arguments.kind))
        driver.find_element(By.ID, "submit").click()
        wait.until(lambda d: d.current_url.endswith("/verify"))

        code = None
        deadline = time.monotonic() + arguments.timeout
        while code is None and time.monotonic() < deadline:
            code = mailed_code(arguments.mail_dir, arguments.on_file)
            if code is None:
                time.sleep(0.2)
        if code is None:
            fail("no code reached %s" % arguments.on_file)
        driver.find_element(By.ID, "code").send_keys(code)
        driver.save_screenshot(os.path.join(arguments.screenshots, "portal-%s-code.png" % arguments.kind))
        driver.find_element(By.ID, "confirm").click()
        wait.until(lambda d: "/s/" in d.current_url)
        status_url = driver.current_url

        def finished(d):
            d.get(status_url)
            if arguments.kind == "access":
                return d.find_elements(By.ID, "download")
            return "ดำเนินการเสร็จแล้ว" in d.find_element(By.ID, "status").text
        wait.until(finished)
        seen["status"] = driver.find_element(By.ID, "status").text
        driver.save_screenshot(os.path.join(arguments.screenshots, "portal-%s-status.png" % arguments.kind))
        if arguments.kind == "erasure":
            print(json.dumps(seen, ensure_ascii=False))
            return

        driver.get_log("performance")  # only what follows
        driver.find_element(By.ID, "download").click()
        wait.until(lambda d: [p for p in glob.glob(os.path.join(arguments.downloads, "*.zip"))])
        wait.until(lambda d: not glob.glob(os.path.join(arguments.downloads, "*.crdownload")))
        archive = glob.glob(os.path.join(arguments.downloads, "*.zip"))[0]
        with zipfile.ZipFile(archive) as bundle:
            names = bundle.namelist()
            manifest = next((n for n in names if n.endswith("manifest.json")), None)
            if manifest is None:
                fail("the ZIP has no manifest.json: %s" % names)
            seen["manifest_entries"] = len(json.loads(bundle.read(manifest)).get("files", []))
        seen["zip_files"] = len(names)
        links = [u for u in requested_urls(driver) if "/d/" in u]
        if not links:
            fail("no download link was requested")
        driver.get(links[-1])
        seen["second_download"] = driver.find_element(By.ID, "message").text
        driver.get(status_url)
        seen["delivered"] = driver.find_element(By.ID, "delivered").text
        print(json.dumps(seen, ensure_ascii=False))
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
