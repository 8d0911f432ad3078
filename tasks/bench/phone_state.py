"""The seeded starting state of a phone-suite episode: contacts, notes, settings and layout from a seed.

A phone benchmark must not be passable by remembering one screen, so everything an episode starts
from is drawn from its seed: how many contacts and notes there are and which, in what order the
launcher shows its apps and Settings its switches, and which switches are on. Names and texts come
from multilingual pools (Latin with diacritics, Cyrillic, Greek, Chinese, Japanese, Korean), so a
model must read and type more than ASCII. The same seed always gives the same state (string seeds
make ``random.Random`` independent of the process and of PYTHONHASHSEED).

The state reaches the device through the episode's setup commands: one ``am broadcast`` that loads
the apps' data and layout (env/android/simulator/content.py) and one line of ``settings put``.
"""

from __future__ import annotations

import random

from pydantic import BaseModel, ConfigDict, Field

from pixelpilot.env.android.simulator.content import LOAD_STATE_ACTION, LoadedState, SeedContact, SeedNote, encode_state

#: Settings' switch rows: row name -> (title, namespace, key, on value, off value). Mirrors SETTING_ROWS in
#: the simulator's phone.js, which draws them.
SETTINGS: dict[str, tuple[str, str, str, str, str]] = {
    "wifi": ("Wi-Fi", "global", "wifi_on", "1", "0"),
    "airplane": ("Airplane mode", "global", "airplane_mode_on", "1", "0"),
    "bluetooth": ("Bluetooth", "global", "bluetooth_on", "1", "0"),
    "dark_theme": ("Dark theme", "secure", "ui_night_mode", "2", "1"),
    "mobile_data": ("Mobile data", "global", "mobile_data", "1", "0"),
    "location": ("Location", "secure", "location_mode", "3", "0"),
    "battery_saver": ("Battery saver", "global", "low_power", "1", "0"),
    "do_not_disturb": ("Do not disturb", "global", "zen_mode", "1", "0"),
    "nfc": ("NFC", "global", "nfc_on", "1", "0"),
    "auto_brightness": ("Adaptive brightness", "system", "screen_brightness_mode", "1", "0"),
    "vibrate_on_tap": ("Vibrate on tap", "system", "haptic_feedback_enabled", "1", "0"),
}

#: Launcher apps: label -> package (the simulator's bundled apps).
APPS: dict[str, str] = {
    "Settings": "com.pixelsim.settings",
    "Contacts": "com.pixelsim.contacts",
    "Notes": "com.pixelsim.notes",
    "Phone": "com.pixelsim.phone",
    "Clock": "com.pixelsim.clock",
    "Calendar": "com.pixelsim.calendar",
    "Camera": "com.pixelsim.camera",
    "Gallery": "com.pixelsim.gallery",
    "Messages": "com.pixelsim.messages",
    "Files": "com.pixelsim.files",
    "Music": "com.pixelsim.music",
    "Weather": "com.pixelsim.weather",
}

NAMES: tuple[str, ...] = (
    # English
    "Alice Johnson", "Bob Smith", "Carol White", "David Brown", "Emma Wilson", "Frank Miller", "Grace Lee",
    "Henry Taylor", "Isabel Moore", "Jack Anderson", "Karen Thomas", "Liam Martin", "Olivia Clark", "Noah Lewis",
    # Spanish, Portuguese, French, German, Polish, Turkish, Vietnamese
    "Lucía Fernández", "Mateo García", "Sofía Martínez", "Javier López", "João Silva", "Inês Costa",
    "Élodie Moreau", "Théo Lefèvre", "Camille Dubois", "Jürgen Müller", "Anna Schäfer", "Lukas Weiß",
    "Zofia Wójcik", "Łukasz Nowak", "Ayşe Yılmaz", "Mehmet Demir", "Nguyễn Văn An", "Trần Thị Bích",
    # Cyrillic, Greek
    "Иван Петров", "Ольга Смирнова", "Дмитрий Соколов", "Νίκος Παπαδόπουλος", "Ελένη Γεωργίου",
    # Chinese, Japanese, Korean
    "李伟", "王芳", "张敏", "刘洋", "陈静", "杨磊", "赵丽", "黄强",
    "佐藤花子", "鈴木一郎", "高橋美咲", "田中健太", "渡辺由美",
    "김민준", "이서연", "박지훈", "최유진", "정하늘",
)  # fmt: skip

NOTES: tuple[str, ...] = (
    "Buy milk", "Call the dentist", "Pay electricity bill", "Book flights to Lisbon", "Water the plants",
    "Return library books", "Pick up dry cleaning", "Renew passport", "Team meeting at 10", "Gym: leg day",
    "Birthday gift for Sam", "Fix the bike tire", "Read chapter 4", "Back up photos", "Cancel old subscription",
    "Order printer ink", "Plan weekend hike", "Send invoice to Ana",
    "Comprar pan y huevos", "Llamar a mamá", "Rendez-vous chez le médecin", "Acheter des croissants",
    "Termin beim Zahnarzt", "Geschenk für Oma kaufen", "Pagar a conta de luz", "Zadzwonić do banku",
    "Купить билеты в театр", "Позвонить бабушке", "Αγορά φρούτων",
    "买牛奶和面包", "给妈妈打电话", "预订餐厅", "周五交报告", "整理照片",
    "牛乳を買う", "歯医者の予約", "会議の資料を準備", "本を返す",
    "장보기 목록", "엄마 생신 선물", "치과 예약하기", "운동 30분",
)  # fmt: skip

#: phone number shapes: each "#" is a digit
_NUMBER_FORMATS = (
    "555-01##",
    "(555) ###-####",
    "+1 415 555 ####",
    "+44 20 7946 ####",
    "+49 30 #######",
    "+33 1 ## ## ## ##",
    "+81 3-####-####",
    "+86 10 #### ####",
    "+82 2-###-####",
)


class PhoneState(BaseModel):
    """An episode's starting state; ``setup_commands`` turns it into the device's setup."""

    model_config = ConfigDict(extra="forbid")

    contacts: list[SeedContact]
    notes: list[SeedNote] = Field(description="newest first, as the Notes list shows them")
    launcher: list[str] = Field(description="packages in the launcher grid's order")
    settings_order: list[str] = Field(description="Settings' switch rows, top to bottom")
    settings: dict[str, bool] = Field(description="switch row -> on")

    def contact(self, name: str) -> SeedContact:
        return next(c for c in self.contacts if c.name == name)

    def setup_commands(self) -> list[str]:
        """Shell commands that put a device in this state (the episode's start.setup)."""
        loaded = LoadedState(
            contacts=self.contacts, notes=self.notes, launcher=self.launcher, settings_order=self.settings_order
        )
        puts = []
        for row, on in self.settings.items():
            _, ns, key, on_value, off_value = SETTINGS[row]
            puts.append(f"settings put {ns} {key} {on_value if on else off_value}")
        return [
            f"am broadcast -a {LOAD_STATE_ACTION} --es state '{encode_state(loaded)}'",
            " && ".join(puts),
        ]


def phone_number(rng: random.Random) -> str:
    return "".join(str(rng.randrange(10)) if c == "#" else c for c in rng.choice(_NUMBER_FORMATS))


def seeded_state(seed: int) -> PhoneState:
    """The base state of seed ``seed`` (templates then adjust it to their goal, from their own generator)."""
    rng = random.Random(f"pixelsim-state:{seed}")
    names = rng.sample(NAMES, rng.randint(6, 28))
    numbers: set[str] = set()
    contacts = []
    for name in names:
        number = phone_number(rng)
        while number in numbers:
            number = phone_number(rng)
        numbers.add(number)
        contacts.append(SeedContact(name=name, phone=number))
    notes = [SeedNote(text=t) for t in rng.sample(NOTES, rng.randint(5, 26))]
    launcher = list(APPS.values())
    rng.shuffle(launcher)
    order = list(SETTINGS)
    rng.shuffle(order)
    return PhoneState(
        contacts=contacts,
        notes=notes,
        launcher=launcher,
        settings_order=order,
        settings={row: rng.random() < 0.5 for row in SETTINGS},
    )


def new_contact(rng: random.Random, state: PhoneState) -> SeedContact:
    """A contact not in ``state`` (name and number both new)."""
    taken = {c.name for c in state.contacts}
    name = rng.choice([n for n in NAMES if n not in taken])
    numbers = {c.phone for c in state.contacts}
    number = phone_number(rng)
    while number in numbers:
        number = phone_number(rng)
    return SeedContact(name=name, phone=number)


def new_note_text(rng: random.Random, state: PhoneState) -> str:
    taken = {n.text for n in state.notes}
    return rng.choice([t for t in NOTES if t not in taken])


def lengthen(rng: random.Random, state: PhoneState, *, contacts: int = 0, notes: int = 0) -> None:
    """Grow the lists to at least these lengths (tasks that must scroll to find their target)."""
    while len(state.contacts) < contacts:
        state.contacts.append(new_contact(rng, state))
    while len(state.notes) < notes:
        state.notes.append(SeedNote(text=new_note_text(rng, state)))
