"""The Channels tutorial's browser tests (part 4), for both consumers, in real Chromium.

Headless Debian Chromium driven by Selenium through Debian's chromedriver (so Selenium
Manager never downloads anything), against a real Daphne serving the site with the
in-memory layer. Missing Chromium is a failure, not a skip.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import CHROMEDRIVER, CHROMIUM, chromium_options
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from bench.deploy.processes import free_port
from bench.deploy.servers import DaphneServer
from bench.deploy.site import CONSUMERS, ServerSettings
from bench.scenario import Point

HOST = "127.0.0.1"
# Bounded waits: generous for a loaded 2-core machine, never a measure of speed.
TIMEOUT_S = 15.0
QUIT_TIMEOUT_S = 10.0


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[str]:
    """The chat site in a real Daphne (in-memory layer); yields its base URL."""
    log_path = tmp_path_factory.mktemp("daphne-browser") / "daphne.log"
    with DaphneServer(
        ServerSettings(Point(layer="memory")), HOST, free_port(HOST), log_path
    ) as daphne:
        daphne.wait_ready()
        yield f"http://{HOST}:{daphne.port}"


def processes_using(marker: str) -> list[int]:
    """PIDs of live processes whose command line contains ``marker``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline:
            pids.append(int(entry.name))
    return pids


@pytest.fixture(scope="module")
def driver(tmp_path_factory) -> Iterator[webdriver.Chrome]:
    assert CHROMIUM.is_file(), f"{CHROMIUM} is missing: apt-get install chromium"
    assert CHROMEDRIVER.is_file(), f"{CHROMEDRIVER} is missing: apt-get install chromium-driver"
    workdir = tmp_path_factory.mktemp("chromium")
    profile = workdir / f"profile-{uuid.uuid4().hex}"
    options = chromium_options(profile)
    service = Service(
        executable_path=str(CHROMEDRIVER), log_output=str(workdir / "chromedriver.log")
    )
    chrome = webdriver.Chrome(service=service, options=options)
    try:
        yield chrome
    finally:
        chrome.quit()
        # Every Chromium process of this profile must be gone; kill leftovers by PID.
        deadline = time.monotonic() + QUIT_TIMEOUT_S
        while (left := processes_using(str(profile))) and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        assert not left, f"Chromium processes {left} outlived driver.quit()"


@pytest.fixture
def windows(driver: webdriver.Chrome) -> Iterator[Callable[[str], str]]:
    """``open_window(url)``: load ``url`` in a new window; returns its handle.

    On teardown every window but the first is closed and the first goes blank, so that
    no page (and no websocket) outlives its test.
    """
    first = driver.current_window_handle
    opened: list[str] = []

    def open_window(url: str) -> str:
        if opened:
            driver.switch_to.new_window("window")
        opened.append(driver.current_window_handle)
        driver.get(url)
        return driver.current_window_handle

    yield open_window
    for handle in driver.window_handles:
        if handle != first:
            driver.switch_to.window(handle)
            driver.close()
    driver.switch_to.window(first)
    driver.get("about:blank")


def new_room(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def wait_until(driver: webdriver.Chrome, condition: Callable[[], object], what: str) -> None:
    WebDriverWait(driver, TIMEOUT_S, poll_frequency=0.05).until(lambda _: condition(), what)


def wait_socket_open(driver: webdriver.Chrome) -> None:
    wait_until(
        driver,
        lambda: driver.execute_script("return chatSocket.readyState === WebSocket.OPEN"),
        "the page's chat socket to open",
    )


def enter_room(driver: webdriver.Chrome, open_window, site: str, room: str, consumer: str) -> str:
    """Open the room's page in a new window, check its socket, and return the window."""
    handle = open_window(f"{site}/chat/{room}/?consumer={consumer}")
    wait_socket_open(driver)
    socket_url = driver.execute_script("return chatSocket.url")
    assert socket_url.endswith(f"/ws/{consumer}/chat/{room}/"), socket_url
    assert driver.find_element(By.ID, "consumer-current").text == consumer
    return handle


def type_and_submit(
    driver: webdriver.Chrome, field_id: str, button_id: str, text: str, press_enter: bool
) -> None:
    """Type ``text`` into a field, then submit it as a person would: Enter, or the button."""
    field = driver.find_element(By.ID, field_id)
    if press_enter:
        field.send_keys(text, Keys.ENTER)
    else:
        field.send_keys(text)
        driver.find_element(By.ID, button_id).click()


def post_message(driver: webdriver.Chrome, window: str, message: str, press_enter: bool) -> None:
    driver.switch_to.window(window)
    type_and_submit(driver, "chat-message-input", "chat-message-submit", message, press_enter)


def chat_log(driver: webdriver.Chrome, window: str) -> str:
    driver.switch_to.window(window)
    return driver.find_element(By.ID, "chat-log").get_property("value")


def wait_for_message(driver: webdriver.Chrome, window: str, message: str) -> None:
    wait_until(
        driver, lambda: message in chat_log(driver, window).splitlines(), f"{message!r} in log"
    )


@pytest.mark.parametrize("consumer", CONSUMERS)
def test_when_chat_message_posted_then_seen_by_everyone_in_same_room(
    site, driver, windows, consumer
):
    room = new_room("room_1")
    first = enter_room(driver, windows, site, room, consumer)
    second = enter_room(driver, windows, site, room, consumer)

    post_message(driver, first, "hello", press_enter=True)
    wait_for_message(driver, first, "hello")
    wait_for_message(driver, second, "hello")

    post_message(driver, second, "world", press_enter=False)
    wait_for_message(driver, first, "world")
    wait_for_message(driver, second, "world")
    assert chat_log(driver, first).splitlines() == ["hello", "world"]
    assert chat_log(driver, second).splitlines() == ["hello", "world"]


@pytest.mark.parametrize("consumer", CONSUMERS)
def test_when_chat_message_posted_then_not_seen_by_anyone_in_different_room(
    site, driver, windows, consumer
):
    first = enter_room(driver, windows, site, new_room("room_1"), consumer)
    second = enter_room(driver, windows, site, new_room("room_2"), consumer)

    post_message(driver, first, "hello", press_enter=True)
    wait_for_message(driver, first, "hello")
    # A message posted in room 2 after "hello" reached room 1 is seen first in room 2.
    post_message(driver, second, "world", press_enter=True)
    wait_for_message(driver, second, "world")
    post_message(driver, first, "again", press_enter=True)
    wait_for_message(driver, first, "again")

    assert chat_log(driver, first).splitlines() == ["hello", "again"]
    assert chat_log(driver, second).splitlines() == ["world"]


@pytest.mark.parametrize(("consumer", "press_enter"), [("sync", True), ("async", False)])
def test_index_page_enters_the_named_room_with_the_chosen_consumer(
    site, driver, windows, consumer, press_enter
):
    room = new_room("lobby")
    windows(f"{site}/chat/")
    driver.find_element(By.CSS_SELECTOR, f'input[name="consumer"][value="{consumer}"]').click()
    type_and_submit(driver, "room-name-input", "room-name-submit", room, press_enter)

    expected_url = f"{site}/chat/{room}/?consumer={consumer}"
    wait_until(driver, lambda: driver.current_url == expected_url, f"navigation to {expected_url}")
    wait_socket_open(driver)
    assert driver.execute_script("return chatSocket.url").endswith(f"/ws/{consumer}/chat/{room}/")
    assert driver.find_element(By.ID, "consumer-current").text == consumer

    window = driver.current_window_handle
    post_message(driver, window, "made it", press_enter=True)
    wait_for_message(driver, window, "made it")
