"""Synthetic GUI grounding sets, rendered in Chromium, written in ScreenSpot format.

Real grounding sets are few, English-heavy and licensed; this one can be made anywhere, in any size,
with exact boxes. Each page is a small app or website (buttons, links, icon buttons, labelled icons,
form fields, tabs, menus, checkboxes) in one of five languages, rendered at desktop and phone sizes and
device pixel ratios. Boxes come from the DOM (getBoundingClientRect x devicePixelRatio = screenshot px)
and only targets that are fully on screen and on top at their centre (elementFromPoint) are kept, so a
click at a box's centre reaches the target. Every page's HTML is kept next to its screenshot, with
``data-pp`` ids on targets, so that claim can be re-checked by clicking (tests do).

Deterministic for a seed (same Chromium, same fonts); the PNGs are at native resolution. Most of this
module's length is its label and icon tables, kept in Python so they ship with the package.
"""

from __future__ import annotations

import html
import json
import math
import random
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loguru import logger

from pixelpilot.env.browser.chromium import find_chromium, launch_args

GENERATOR_VERSION = "1"
LANGUAGES = ("en", "de", "ja", "zh", "es")
SAMPLES_PER_PAGE = 4


@dataclass(frozen=True)
class Profile:
    """A screen: the platform label, CSS viewport and device pixel ratio."""

    platform: str
    width: int
    height: int
    dpr: float


PROFILES: dict[str, tuple[Profile, ...]] = {
    "mobile": (Profile("mobile", 390, 844, 3), Profile("mobile", 360, 780, 2)),
    "desktop": (Profile("desktop", 1280, 800, 1), Profile("desktop", 1280, 800, 2)),
    "web": (Profile("web", 1280, 800, 1), Profile("web", 1280, 800, 2)),
}
_SCREEN = re.compile(r"(mobile|desktop|web):(\d+)x(\d+)(?:@(\d+(?:\.\d+)?))?")


def parse_screen(text: str) -> Profile:
    """``PLATFORM:WxH[@SCALE]`` (CSS viewport and device scale) -> a Profile; ValueError in one line.

    ``desktop:2560x1440`` renders 2560x1440 screenshots whose targets keep their usual CSS size: the
    small-targets-on-a-large-screen case that pixel budgets and zoom are about.
    """
    m = _SCREEN.fullmatch(text.strip())
    if not m:
        raise ValueError(f"--screen {text!r}: expected PLATFORM:WxH or PLATFORM:WxH@SCALE, e.g. mobile:390x844@3")
    width, height, dpr = int(m.group(2)), int(m.group(3)), float(m.group(4) or 1)
    if not (240 <= width <= 8192 and 240 <= height <= 8192 and 0.5 <= dpr <= 4 and width * dpr <= 16384):
        raise ValueError(f"--screen {text!r}: the viewport must be 240..8192 px a side at a scale of 0.5..4")
    return Profile(m.group(1), width, height, dpr)


# Labels, as (en, de, ja, zh, es).
WORDS: dict[str, tuple[str, str, str, str, str]] = {
    "save": ("Save", "Speichern", "保存", "保存", "Guardar"),
    "cancel": ("Cancel", "Abbrechen", "キャンセル", "取消", "Cancelar"),
    "delete": ("Delete", "Löschen", "削除", "删除", "Eliminar"),
    "submit": ("Submit", "Absenden", "送信", "提交", "Enviar"),
    "sign_in": ("Sign in", "Anmelden", "ログイン", "登录", "Iniciar sesión"),
    "sign_up": ("Sign up", "Registrieren", "新規登録", "注册", "Registrarse"),
    "next": ("Next", "Weiter", "次へ", "下一步", "Siguiente"),
    "apply": ("Apply", "Übernehmen", "適用", "应用", "Aplicar"),
    "ok": ("OK", "OK", "OK", "确定", "Aceptar"),
    "continue": ("Continue", "Fortfahren", "続ける", "继续", "Continuar"),
    "learn_more": ("Learn more", "Mehr erfahren", "詳しく見る", "了解更多", "Más información"),
    "get_started": ("Get started", "Jetzt starten", "始める", "开始使用", "Empezar"),
    "add": ("Add", "Hinzufügen", "追加", "添加", "Añadir"),
    "search": ("Search", "Suchen", "検索", "搜索", "Buscar"),
    "share": ("Share", "Teilen", "共有", "分享", "Compartir"),
    "edit": ("Edit", "Bearbeiten", "編集", "编辑", "Editar"),
    "print": ("Print", "Drucken", "印刷", "打印", "Imprimir"),
    "refresh": ("Refresh", "Aktualisieren", "更新", "刷新", "Actualizar"),
    "download": ("Download", "Herunterladen", "ダウンロード", "下载", "Descargar"),
    "upload": ("Upload", "Hochladen", "アップロード", "上传", "Subir"),
    "back": ("Back", "Zurück", "戻る", "返回", "Atrás"),
    "home": ("Home", "Startseite", "ホーム", "首页", "Inicio"),
    "settings": ("Settings", "Einstellungen", "設定", "设置", "Ajustes"),
    "profile": ("Profile", "Profil", "プロフィール", "个人资料", "Perfil"),
    "messages": ("Messages", "Nachrichten", "メッセージ", "消息", "Mensajes"),
    "notifications": ("Notifications", "Benachrichtigungen", "通知", "通知", "Notificaciones"),
    "favorites": ("Favorites", "Favoriten", "お気に入り", "收藏", "Favoritos"),
    "calendar": ("Calendar", "Kalender", "カレンダー", "日历", "Calendario"),
    "cart": ("Cart", "Warenkorb", "カート", "购物车", "Carrito"),
    "help": ("Help", "Hilfe", "ヘルプ", "帮助", "Ayuda"),
    "overview": ("Overview", "Übersicht", "概要", "概览", "Resumen"),
    "details": ("Details", "Details", "詳細", "详情", "Detalles"),
    "reviews": ("Reviews", "Bewertungen", "レビュー", "评价", "Reseñas"),
    "activity": ("Activity", "Aktivität", "アクティビティ", "动态", "Actividad"),
    "photos": ("Photos", "Fotos", "写真", "照片", "Fotos"),
    "contacts": ("Contacts", "Kontakte", "連絡先", "联系人", "Contactos"),
    "products": ("Products", "Produkte", "製品", "产品", "Productos"),
    "pricing": ("Pricing", "Preise", "料金", "价格", "Precios"),
    "about": ("About", "Über uns", "会社概要", "关于我们", "Acerca de"),
    "blog": ("Blog", "Blog", "ブログ", "博客", "Blog"),
    "support": ("Support", "Support", "サポート", "支持", "Soporte"),
    "documents": ("Documents", "Dokumente", "ドキュメント", "文档", "Documentos"),
    "file": ("File", "Datei", "ファイル", "文件", "Archivo"),
    "view": ("View", "Ansicht", "表示", "视图", "Ver"),
    "tools": ("Tools", "Extras", "ツール", "工具", "Herramientas"),
    "window": ("Window", "Fenster", "ウィンドウ", "窗口", "Ventana"),
    "new": ("New", "Neu", "新規", "新建", "Nuevo"),
    "open": ("Open…", "Öffnen…", "開く…", "打开…", "Abrir…"),
    "save_as": ("Save as…", "Speichern unter…", "名前を付けて保存…", "另存为…", "Guardar como…"),
    "export": ("Export", "Exportieren", "エクスポート", "导出", "Exportar"),
    "close": ("Close", "Schließen", "閉じる", "关闭", "Cerrar"),
    "quit": ("Quit", "Beenden", "終了", "退出", "Salir"),
    # form fields
    "email": ("Email", "E-Mail", "メールアドレス", "电子邮件", "Correo electrónico"),
    "password": ("Password", "Passwort", "パスワード", "密码", "Contraseña"),
    "full_name": ("Full name", "Vollständiger Name", "氏名", "姓名", "Nombre completo"),
    "phone": ("Phone number", "Telefonnummer", "電話番号", "电话号码", "Número de teléfono"),
    "city": ("City", "Stadt", "市区町村", "城市", "Ciudad"),
    "username": ("Username", "Benutzername", "ユーザー名", "用户名", "Nombre de usuario"),
    "company": ("Company", "Firma", "会社名", "公司", "Empresa"),
    # checkboxes
    "remember": ("Remember me", "Angemeldet bleiben", "ログイン状態を保持", "记住我", "Recordarme"),
    "newsletter": (
        "Subscribe to the newsletter",
        "Newsletter abonnieren",
        "ニュースレターを購読",
        "订阅新闻通讯",
        "Suscribirse al boletín",
    ),
    "terms": (
        "I agree to the terms",
        "Ich stimme den Bedingungen zu",
        "利用規約に同意する",
        "我同意条款",
        "Acepto los términos",
    ),
    "dark_mode": ("Dark mode", "Dunkelmodus", "ダークモード", "深色模式", "Modo oscuro"),
    "autosave": ("Save automatically", "Automatisch speichern", "自動保存", "自动保存", "Guardar automáticamente"),
    "wifi_only": ("Wi-Fi only", "Nur WLAN", "Wi-Fiのみ", "仅限 Wi-Fi", "Solo Wi-Fi"),
    "sync": ("Sync contacts", "Kontakte synchronisieren", "連絡先を同期", "同步联系人", "Sincronizar contactos"),
}
TITLES = ("Acme", "Nordlicht", "さくら", "云帆", "Sol y Mar", "Pixelhaus", "Bluebird", "Tanuki")
FILLER: dict[str, tuple[str, ...]] = {
    "en": ("Everything you need in one place.", "Updated a few minutes ago.", "Your changes are stored safely."),
    "de": ("Alles an einem Ort.", "Vor wenigen Minuten aktualisiert.", "Ihre Änderungen sind sicher gespeichert."),
    "ja": ("必要なものがすべて揃っています。", "数分前に更新されました。", "変更は安全に保存されます。"),
    "zh": ("一站式满足您的所有需求。", "几分钟前更新。", "您的更改已安全保存。"),
    "es": ("Todo lo que necesitas en un solo lugar.", "Actualizado hace unos minutos.", "Tus cambios se guardan."),
}

# Inline SVG icons (24x24, stroked), with how people refer to them and what they do.
_G = "".join(
    f'<line x1="{12 + 6 * math.cos(a):.2f}" y1="{12 + 6 * math.sin(a):.2f}" '
    f'x2="{12 + 9 * math.cos(a):.2f}" y2="{12 + 9 * math.sin(a):.2f}"/>'
    for a in (i * math.pi / 4 for i in range(8))
)
_DOT = 'fill="currentColor" stroke="none"'


@dataclass(frozen=True)
class Icon:
    svg: str
    looks: str  # what it looks like: "magnifying glass"
    name: str  # what people call it: "search"
    does: str  # an imperative for its function: "start a search"
    word: str  # label concept when shown with text


ICONS: dict[str, Icon] = {
    i.name: i
    for i in (
        Icon('<circle cx="11" cy="11" r="7"/><line x1="16.5" y1="16.5" x2="21" y2="21"/>',
             "magnifying glass", "search", "start a search", "search"),
        Icon(f'<circle cx="12" cy="12" r="3"/><circle cx="12" cy="12" r="6"/>{_G}',
             "gear", "settings", "open the settings", "settings"),
        Icon('<path d="M3 11 L12 3 L21 11"/><path d="M5 10 V21 H19 V10"/><path d="M10 21 V15 H14 V21"/>',
             "house", "home", "go to the home screen", "home"),
        Icon('<circle cx="12" cy="8" r="4"/><path d="M4 21 C4 16 8 14 12 14 C16 14 20 16 20 21"/>',
             "person", "profile", "view your profile", "profile"),
        Icon('<path d="M6 17 V11 C6 7 8.5 5 12 5 C15.5 5 18 7 18 11 V17 L20 19 H4 Z"/><path d="M10 21 H14"/>',
             "bell", "notifications", "show the notifications", "notifications"),
        Icon('<rect x="3" y="5" width="18" height="14" rx="2"/><path d="M3 7 L12 13 L21 7"/>',
             "envelope", "mail", "open the messages", "messages"),
        Icon('<path d="M12 20 C5 15 3 12 3 8.5 C3 6 5 4 7.5 4 C9.5 4 11 5 12 7 C13 5 14.5 4 16.5 4 '
             'C19 4 21 6 21 8.5 C21 12 19 15 12 20 Z"/>',
             "heart", "favorite", "add this to favorites", "favorites"),
        Icon('<path d="M4 7 H20"/><path d="M9 7 V4 H15 V7"/><path d="M6 7 L7 21 H17 L18 7"/>'
             '<line x1="10" y1="11" x2="10" y2="17"/><line x1="14" y1="11" x2="14" y2="17"/>',
             "trash can", "delete", "delete this item", "delete"),
        Icon('<line x1="12" y1="5" x2="12" y2="19"/><line x1="5" y1="12" x2="19" y2="12"/>',
             "plus", "add", "add a new item", "add"),
        Icon('<line x1="6" y1="6" x2="18" y2="18"/><line x1="18" y1="6" x2="6" y2="18"/>',
             "X", "close", "close this view", "close"),
        Icon('<line x1="4" y1="6" x2="20" y2="6"/><line x1="4" y1="12" x2="20" y2="12"/>'
             '<line x1="4" y1="18" x2="20" y2="18"/>',
             "three horizontal lines", "menu", "open the navigation menu", "overview"),
        Icon('<circle cx="18" cy="5" r="2.5"/><circle cx="6" cy="12" r="2.5"/><circle cx="18" cy="19" r="2.5"/>'
             '<line x1="8.2" y1="10.8" x2="15.8" y2="6.2"/><line x1="8.2" y1="13.2" x2="15.8" y2="17.8"/>',
             "three connected dots", "share", "share this page", "share"),
        Icon('<path d="M12 3 V15"/><path d="M7 10 L12 15 L17 10"/><path d="M4 19 H20"/>',
             "downward arrow", "download", "download the file", "download"),
        Icon('<path d="M12 15 V3"/><path d="M7 8 L12 3 L17 8"/><path d="M4 19 H20"/>',
             "upward arrow", "upload", "upload a file", "upload"),
        Icon('<path d="M4 20 L4 16 L16 4 L20 8 L8 20 Z"/><line x1="13" y1="7" x2="17" y2="11"/>',
             "pencil", "edit", "edit this item", "edit"),
        Icon('<path d="M20 12 A8 8 0 1 1 17.7 6.3"/><path d="M20 4 V9 H15"/>',
             "circular arrow", "refresh", "reload the content", "refresh"),
        Icon('<line x1="20" y1="12" x2="4" y2="12"/><path d="M10 6 L4 12 L10 18"/>',
             "left arrow", "back", "go back", "back"),
        Icon('<path d="M3 4 H6 L8.5 15 H18 L20 8 H7"/>'
             '<circle cx="9.5" cy="19" r="1.5"/><circle cx="17" cy="19" r="1.5"/>',
             "shopping cart", "cart", "open the shopping cart", "cart"),
        Icon('<rect x="3" y="5" width="18" height="16" rx="2"/><line x1="3" y1="10" x2="21" y2="10"/>'
             '<line x1="8" y1="3" x2="8" y2="7"/><line x1="16" y1="3" x2="16" y2="7"/>',
             "calendar", "calendar", "open the calendar", "calendar"),
        Icon('<path d="M7 9 V3 H17 V9"/><rect x="3" y="9" width="18" height="8" rx="1"/>'
             '<rect x="7" y="14" width="10" height="7"/>',
             "printer", "print", "print this page", "print"),
        Icon(f'<circle cx="5" cy="12" r="1.7" {_DOT}/><circle cx="12" cy="12" r="1.7" {_DOT}/>'
             f'<circle cx="19" cy="12" r="1.7" {_DOT}/>',
             "three dots", "more options", "show more options", "details"),
        Icon('<circle cx="12" cy="12" r="9"/><path d="M9.5 9.5 C9.5 7.5 14.5 7.5 14.5 10 C14.5 12 12 12 12 14.5"/>'
             f'<circle cx="12" cy="17.5" r="1" {_DOT}/>',
             "question mark", "help", "get help", "help"),
    )
}  # fmt: skip

PALETTES = ("#1a73e8", "#0b8043", "#c5221f", "#7b1fa2", "#e37400", "#00796b", "#3949ab", "#ad1457")
FONTS = {
    "en": '"Liberation Sans", "DejaVu Sans", sans-serif',
    "de": '"DejaVu Sans", "Liberation Sans", sans-serif',
    "es": '"Liberation Sans", "DejaVu Sans", sans-serif',
    "ja": '"Noto Sans CJK JP", sans-serif',
    "zh": '"Noto Sans CJK SC", sans-serif',
}

# Records the target a click reached, for tests that re-check boxes by clicking; keeps links in place.
_PAGE_SCRIPT = """
document.addEventListener('click', (e) => {
  const t = e.target.closest ? e.target.closest('[data-pp]') : null;
  window.__ppClicked = t ? t.dataset.pp : null;
  if (e.target.closest && e.target.closest('a')) e.preventDefault();
}, true);
"""

# Targets fully on screen, visible, and on top at their centre.
_MEASURE = """() => {
  const out = [];
  const W = window.innerWidth, H = window.innerHeight;
  for (const el of document.querySelectorAll('[data-pp]')) {
    const r = el.getBoundingClientRect();
    const cs = getComputedStyle(el);
    if (r.width < 4 || r.height < 4 || cs.visibility !== 'visible' || Number(cs.opacity) < 0.5) continue;
    if (r.left < 0 || r.top < 0 || r.right > W || r.bottom > H) continue;
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    if (!hit || !hit.closest || hit.closest('[data-pp]') !== el) continue;
    out.push({id: el.dataset.pp, left: r.left, top: r.top, right: r.right, bottom: r.bottom});
  }
  return {dpr: window.devicePixelRatio, items: out};
}"""


@dataclass
class Target:
    id: str
    data_type: str  # text | icon
    instruction: str
    kind: str


@dataclass
class PageBuilder:
    """Hands out labels and icons at most once per page, so every instruction names one element."""

    rng: random.Random
    lang: str
    platform: str
    targets: dict[str, Target] = field(default_factory=dict)
    used_words: set[str] = field(default_factory=set)
    used_icons: set[str] = field(default_factory=set)

    def word(self, key: str) -> str:
        return WORDS[key][LANGUAGES.index(self.lang)]

    def take_words(self, keys: list[str] | tuple[str, ...], k: int) -> list[str]:
        free = [key for key in keys if key not in self.used_words and self.word(key) not in self._labels()]
        picked = self.rng.sample(free, min(k, len(free)))
        self.used_words.update(picked)
        return picked

    def _labels(self) -> set[str]:
        return {self.word(k) for k in self.used_words}

    def take_icons(self, names: list[str] | tuple[str, ...], k: int, *, labelled: bool = False) -> list[Icon]:
        free = [n for n in names if n not in self.used_icons]
        if labelled:  # the label must be free too
            free = [
                n
                for n in free
                if ICONS[n].word not in self.used_words and self.word(ICONS[n].word) not in self._labels()
            ]
        picked = self.rng.sample(free, min(k, len(free)))
        self.used_icons.update(picked)
        if labelled:
            self.used_words.update(ICONS[n].word for n in picked)
        return [ICONS[n] for n in picked]

    def target(self, kind: str, data_type: str, instruction: str) -> str:
        tid = f"t{len(self.targets)}"
        self.targets[tid] = Target(tid, data_type, instruction, kind)
        return f'data-pp="{tid}"'

    # ---- phrasing
    def tap(self) -> str:
        return "tap" if self.platform == "mobile" else self.rng.choice(("click", "click on"))

    def text_instruction(self, kind: str, label: str) -> str:
        q = f"'{label}'"
        tap = self.tap()
        options = {
            "button": (f"{tap} the {q} button", f"press {q}", f"{tap} {q}"),
            "link": (f"{tap} the {q} link", f"go to {q}", f"follow the {q} link"),
            "tab": (f"open the {q} tab", f"switch to the {q} tab", f"{tap} the {q} tab"),
            "menu": (f"open the {q} menu", f"{tap} the {q} menu"),
            "menuitem": (f"choose {q} in the open menu", f"{tap} the {q} menu item"),
            "field": (f"{tap} the {q} field", f"select the input labelled {q}", f"focus the {q} text box"),
            "placeholder": (f"{tap} the text box that says {q}", f"select the {q} input field"),
            "checkbox": (f"tick the {q} checkbox", f"toggle {q}", f"{tap} the {q} option"),
            "nav": (f"open {q}", f"{tap} {q} in the navigation", f"go to {q}"),
        }[kind]
        return self.rng.choice(options)

    def icon_instruction(self, icon: Icon) -> str:
        tap = self.tap()
        options = [f"{tap} the {icon.name} icon", f"select the {icon.looks} icon"]
        if icon.word not in self.used_words:  # no text element on the page does the same thing
            options += [icon.does, f"{tap} the {icon.name} button"]
        return self.rng.choice(options)

    # ---- components
    def button(self, key: str, style: str = "primary") -> str:
        label = self.word(key)
        attr = self.target("button", "text", self.text_instruction("button", label))
        return f'<button type="button" class="btn {style}" {attr}>{html.escape(label)}</button>'

    def link(self, key: str) -> str:
        label = self.word(key)
        attr = self.target("link", "text", self.text_instruction("link", label))
        return f'<a href="#" class="link" {attr}>{html.escape(label)}</a>'

    def icon_button(self, icon: Icon, cls: str = "iconbtn") -> str:
        attr = self.target("icon", "icon", self.icon_instruction(icon))
        return f'<button type="button" class="{cls}" aria-label="{icon.name}" {attr}>{svg(icon)}</button>'

    def labelled_icon(self, icon: Icon, cls: str, kind: str = "nav") -> str:
        label = self.word(icon.word)
        attr = self.target(kind, "text", self.text_instruction(kind, label))
        return f'<button type="button" class="{cls}" {attr}>{svg(icon)}<span>{html.escape(label)}</span></button>'

    def tab(self, key: str, active: bool) -> str:
        label = self.word(key)
        attr = self.target("tab", "text", self.text_instruction("tab", label))
        return f'<button type="button" class="tab{" active" if active else ""}" {attr}>{html.escape(label)}</button>'

    def field(self, key: str) -> str:
        label = self.word(key)
        kind = "password" if key == "password" else "email" if key == "email" else "text"
        if self.rng.random() < 0.3:  # placeholder only, no visible label
            attr = self.target("placeholder", "text", self.text_instruction("placeholder", label))
            return f'<div class="field"><input type="{kind}" placeholder="{html.escape(label)}" {attr}></div>'
        attr = self.target("field", "text", self.text_instruction("field", label))
        return (
            f'<div class="field"><label class="flabel">{html.escape(label)}</label>'
            f'<input type="{kind}" placeholder="{html.escape(label)}…" {attr}></div>'
        )

    def checkbox(self, key: str) -> str:
        label = self.word(key)
        attr = self.target("checkbox", "text", self.text_instruction("checkbox", label))
        checked = " checked" if self.rng.random() < 0.4 else ""
        return f'<label class="check" {attr}><input type="checkbox"{checked}><span>{html.escape(label)}</span></label>'

    def filler(self) -> str:
        return html.escape(self.rng.choice(FILLER[self.lang]))


def svg(icon: Icon) -> str:
    return (
        '<svg viewBox="0 0 24 24" width="1em" height="1em" fill="none" stroke="currentColor" stroke-width="2" '
        f'stroke-linecap="round" stroke-linejoin="round">{icon.svg}</svg>'
    )


_ALL_ICONS = tuple(ICONS)
_NAV_WORDS = ("home", "products", "pricing", "about", "blog", "support", "contacts", "documents")
_TAB_WORDS = ("overview", "details", "reviews", "activity", "photos", "settings", "messages", "favorites")
_BUTTON_WORDS = ("save", "cancel", "delete", "submit", "next", "apply", "ok", "continue", "get_started", "sign_up")
_FIELD_WORDS = ("email", "password", "full_name", "phone", "city", "username", "company")
_CHECK_WORDS = ("remember", "newsletter", "terms", "dark_mode", "autosave", "wifi_only", "sync")
_MENU_WORDS = ("file", "edit", "view", "tools", "window", "help")
_MENUITEM_WORDS = ("new", "open", "save_as", "export", "print", "close", "quit")


def _css(b: PageBuilder, p: Profile) -> str:
    rng = b.rng
    accent = rng.choice(PALETTES)
    radius = rng.choice((2, 4, 6, 10, 18))
    base = rng.choice((15, 16, 17)) if p.platform == "mobile" else rng.choice((13, 14, 15))
    dark = rng.random() < 0.2
    bg, fg, panel, line = (
        ("#1e1f22", "#e8eaed", "#2b2d31", "#3c4043") if dark else ("#ffffff", "#202124", "#f4f6f8", "#dadce0")
    )
    return f"""
* {{ box-sizing: border-box; }}
html, body {{ margin: 0; background: {bg}; color: {fg}; font-family: {FONTS[b.lang]}; font-size: {base}px; }}
button {{ font: inherit; color: inherit; cursor: pointer; }}
.btn {{ border-radius: {radius}px; padding: .5em 1.1em; border: 1px solid {accent}; }}
.btn.primary {{ background: {accent}; color: #fff; }}
.btn.secondary {{ background: transparent; color: {accent}; }}
.link {{ color: {accent}; text-decoration: {rng.choice(("none", "underline"))}; }}
.iconbtn {{ background: none; border: none; font-size: {rng.choice((20, 22, 24))}px; padding: 6px; line-height: 0;
  border-radius: 50%; }}
.row {{ display: flex; align-items: center; gap: {rng.choice((8, 12, 16))}px; flex-wrap: wrap; }}
.spacer {{ flex: 1; }}
.panel {{ background: {panel}; border: 1px solid {line}; border-radius: {radius}px; padding: 16px; }}
.field {{ display: flex; flex-direction: column; gap: 4px; margin: 10px 0; }}
.flabel {{ font-size: .85em; opacity: .85; }}
input[type=text], input[type=email], input[type=password] {{ font: inherit; padding: .55em .7em;
  border: 1px solid {line};
  border-radius: {radius}px; background: {bg}; color: {fg}; min-width: 0; }}
.check {{ display: inline-flex; align-items: center; gap: 8px; margin: 6px 0; cursor: pointer; }}
.tabs {{ display: flex; gap: 4px; border-bottom: 1px solid {line}; }}
.tab {{ background: none; border: none; padding: .7em 1em; border-bottom: 2px solid transparent; }}
.tab.active {{ border-bottom-color: {accent}; color: {accent}; }}
.muted {{ opacity: .7; }}
h1 {{ font-size: 1.9em; margin: .3em 0; }} h2 {{ font-size: 1.2em; margin: .4em 0; }}
.nav {{ display: flex; flex-direction: column; align-items: center; gap: 2px; background: none; border: none;
  font-size: .72em; padding: 4px 8px; }}
.nav svg {{ font-size: 24px; }}
.side {{ display: flex; align-items: center; gap: 10px; background: none; border: none; padding: 8px 12px;
  width: 100%; text-align: left; border-radius: {radius}px; }}
.side svg {{ font-size: 18px; }}
.menu {{ background: none; border: none; padding: 4px 10px; }}
.dropdown {{ position: absolute; background: {bg}; border: 1px solid {line}; box-shadow: 0 4px 16px rgba(0,0,0,.25);
  border-radius: 4px; padding: 4px 0; min-width: 200px; z-index: 10; }}
.dropdown .mi {{ display: block; width: 100%; text-align: left; background: none; border: none; padding: 6px 16px; }}
.fab {{ position: fixed; right: 18px; bottom: 84px; width: 56px; height: 56px; border-radius: 50%;
  background: {accent}; color: #fff; border: none; font-size: 26px; line-height: 0; z-index: 5;
  box-shadow: 0 3px 8px rgba(0,0,0,.3); }}
.bottombar {{ position: fixed; left: 0; right: 0; bottom: 0; display: flex; justify-content: space-around;
  background: {panel}; border-top: 1px solid {line}; padding: 6px 0 10px; z-index: 6; }}
.card {{ background: {panel}; border-radius: {radius}px; padding: 14px; margin: 10px 0; }}
.thumb {{ height: {rng.choice((90, 120, 160))}px; border-radius: {radius}px;
  background: linear-gradient({rng.randrange(360)}deg, {accent}, {rng.choice(PALETTES)}); opacity: .8; }}
"""


def _mobile(b: PageBuilder) -> str:
    rng = b.rng
    back = b.take_icons(("back", "close", "menu"), 1)
    actions = b.take_icons(("search", "share", "more options", "edit", "notifications", "favorite"), rng.choice((1, 2)))
    appbar = (
        '<div class="row" style="padding:8px 8px;">'
        + "".join(b.icon_button(i) for i in back)
        + f'<h2 style="margin:0">{html.escape(rng.choice(TITLES))}</h2><span class="spacer"></span>'
        + "".join(b.icon_button(i) for i in actions)
        + "</div>"
    )
    tabs = b.take_words(_TAB_WORDS, 3)
    body = ['<div class="tabs">' + "".join(b.tab(t, i == 0) for i, t in enumerate(tabs)) + "</div>"]
    style = rng.choice(("form", "settings", "feed"))
    content: list[str] = []
    if style == "form":
        content += [b.field(k) for k in b.take_words(_FIELD_WORDS, 2)]
        content += [b.checkbox(k) for k in b.take_words(_CHECK_WORDS, 1)]
        content.append('<div style="display:flex;flex-direction:column;gap:10px;margin-top:10px">')
        content += [
            b.button(k, s) for k, s in zip(b.take_words(_BUTTON_WORDS, 2), ("primary", "secondary"), strict=False)
        ]
        content.append("</div>")
        content += [f'<p style="text-align:center">{b.link(k)}</p>' for k in b.take_words(("learn_more", "help"), 1)]
    elif style == "settings":
        for k in b.take_words(_CHECK_WORDS, 4):
            content.append(f'<div class="card" style="margin:6px 0">{b.checkbox(k)}</div>')
        content += [b.button(k) for k in b.take_words(("save", "apply", "ok"), 1)]
    else:
        for _ in range(rng.choice((2, 3))):
            content.append(f'<div class="card"><div class="thumb"></div><p>{b.filler()}</p>')
            icons = b.take_icons(("favorite", "share", "download", "delete", "edit"), 1)
            links = b.take_words(("learn_more", "details", "reviews"), 1)
            content.append('<div class="row">' + "".join(b.icon_button(i) for i in icons))
            content.append("".join(b.link(k) for k in links) + "</div></div>")
    body.append('<div style="padding:0 16px 150px">' + "".join(content) + "</div>")
    fab = "".join(b.icon_button(i, "fab") for i in b.take_icons(("add", "edit"), 1)) if rng.random() < 0.6 else ""
    nav_icons = b.take_icons(("home", "search", "notifications", "profile", "cart", "calendar", "mail", "settings"), 4,
                             labelled=True)  # fmt: skip
    if rng.random() < 0.6:
        bar = "".join(b.labelled_icon(i, "nav") for i in nav_icons)
    else:
        bar = "".join(b.icon_button(i) for i in nav_icons)
    status = (
        '<div class="row muted" style="padding:6px 16px;font-size:12px">'
        '<b>9:41</b><span class="spacer"></span>5G 87%</div>'
    )
    return status + appbar + "".join(body) + fab + f'<div class="bottombar">{bar}</div>'


def _web(b: PageBuilder) -> str:
    rng = b.rng
    links = b.take_words(_NAV_WORDS, rng.choice((3, 4, 5)))
    search_ph = b.word("search") + "…"
    b.used_words.add("search")
    attr = b.target("placeholder", "text", b.text_instruction("placeholder", search_ph))
    icons = b.take_icons(("cart", "notifications", "profile", "help", "mail", "favorite"), rng.choice((2, 3)))
    signin = b.take_words(("sign_in",), 1)
    header = (
        '<div class="row" style="padding:12px 32px;border-bottom:1px solid rgba(128,128,128,.3)">'
        f'<b style="font-size:1.3em">{html.escape(rng.choice(TITLES))}</b>'
        + "".join(b.link(k) for k in links)
        + '<span class="spacer"></span>'
        + f'<input type="text" placeholder="{html.escape(search_ph)}" style="width:220px" {attr}>'
        + "".join(b.icon_button(i) for i in icons)
        + "".join(b.button(k) for k in signin)
        + "</div>"
    )
    hero_buttons = b.take_words(("get_started", "learn_more", "sign_up", "continue"), 2)
    hero = (
        f'<div style="padding:28px 32px"><h1>{html.escape(rng.choice(TITLES))} — {b.filler()}</h1>'
        f'<p class="muted">{b.filler()} {b.filler()}</p><div class="row">'
        + "".join(b.button(k, s) for k, s in zip(hero_buttons, ("primary", "secondary"), strict=False))
        + "</div></div>"
    )
    fields = "".join(b.field(k) for k in b.take_words(_FIELD_WORDS, rng.choice((2, 3))))
    checks = "".join(f"<div>{b.checkbox(k)}</div>" for k in b.take_words(_CHECK_WORDS, rng.choice((1, 2))))
    submit = "".join(b.button(k) for k in b.take_words(("submit", "save", "next"), 1))
    form = (
        f'<div class="panel" style="width:360px">{fields}{checks}'
        f'<div class="row" style="margin-top:8px">{submit}</div></div>'
    )
    cards = []
    for _ in range(rng.choice((2, 3))):
        tools = b.take_icons(("share", "download", "edit", "delete", "print", "refresh"), 1)
        cards.append(
            f'<div class="card" style="flex:1"><div class="thumb"></div><p>{b.filler()}</p>'
            f'<div class="row">{"".join(b.icon_button(i) for i in tools)}</div></div>'
        )
    main = f'<div class="row" style="padding:0 32px;align-items:flex-start;gap:24px">{form}{"".join(cards)}</div>'
    return header + hero + main


def _desktop(b: PageBuilder) -> str:
    rng = b.rng
    menus = b.take_words(_MENU_WORDS, rng.choice((4, 5)))
    menubar = '<div class="row" style="gap:0;padding:2px 6px;border-bottom:1px solid rgba(128,128,128,.3)">'
    menubar += "".join(_menu_button(b, "menu", "menu", k) for k in menus)
    menubar += "</div>"
    tools = b.take_icons(("add", "download", "upload", "print", "refresh", "edit", "delete", "search", "share"),
                         rng.choice((5, 6, 7)))  # fmt: skip
    toolbar = '<div class="row" style="gap:2px;padding:4px 8px;border-bottom:1px solid rgba(128,128,128,.3)">'
    toolbar += "".join(b.icon_button(i) for i in tools) + '<span class="spacer"></span></div>'
    side_icons = b.take_icons(("home", "calendar", "mail", "favorite", "settings", "profile", "help"), 4, labelled=True)
    sidebar = '<div style="width:220px;padding:10px;border-right:1px solid rgba(128,128,128,.3);height:640px">'
    sidebar += "".join(b.labelled_icon(i, "side") for i in side_icons) + "</div>"
    tabs = b.take_words(_TAB_WORDS, rng.choice((3, 4)))
    fields = "".join(b.field(k) for k in b.take_words(_FIELD_WORDS, 2))
    checks = "".join(f"<div>{b.checkbox(k)}</div>" for k in b.take_words(_CHECK_WORDS, rng.choice((2, 3))))
    buttons = b.take_words(("ok", "cancel", "apply", "save", "delete"), 3)
    main = (
        '<div style="flex:1;padding:12px 20px">'
        + '<div class="tabs">' + "".join(b.tab(t, i == 0) for i, t in enumerate(tabs)) + "</div>"
        + f'<div class="row" style="align-items:flex-start;gap:24px"><div style="width:360px">{fields}</div>'
        + f'<div style="padding-top:20px">{checks}</div></div>'
        + f'<p class="muted">{b.filler()}</p>'
        + '<div class="row" style="justify-content:flex-end;margin-top:30px">'
        + "".join(b.button(k, "primary" if i == 0 else "secondary") for i, k in enumerate(buttons))
        + "</div></div>"
    )  # fmt: skip
    dropdown = ""
    if rng.random() < 0.5:
        items = b.take_words(_MENUITEM_WORDS, rng.choice((4, 5)))
        left = 6 + rng.randrange(0, 120)
        dropdown = f'<div class="dropdown" style="left:{left}px;top:30px">' + "".join(
            _menu_button(b, "mi", "menuitem", k)
            for k in items
        ) + "</div>"  # fmt: skip
    return menubar + toolbar + f'<div style="display:flex">{sidebar}{main}</div>' + dropdown


def _menu_button(b: PageBuilder, cls: str, kind: str, key: str) -> str:
    label = b.word(key)
    attr = b.target(kind, "text", b.text_instruction(kind, label))
    return f'<button type="button" class="{cls}" {attr}>{html.escape(label)}</button>'


_LAYOUTS = {"mobile": _mobile, "web": _web, "desktop": _desktop}


def build_page(rng: random.Random, profile: Profile, lang: str) -> tuple[str, dict[str, Target]]:
    """One page's HTML and its targets (by data-pp id)."""
    b = PageBuilder(rng, lang, profile.platform)
    body = _LAYOUTS[profile.platform](b)
    css = _css(b, profile)
    page = (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{css}</style><script>{_PAGE_SCRIPT}</script></head><body>{body}</body></html>"
    )
    return page, b.targets


# ----------------------------------------------------------------------------------------------- rendering
def make_grounding(
    out_dir: Path, n: int, seed: int = 0, chromium: str | None = None, screens: list[Profile] | None = None
) -> Path:
    """Render ``n`` grounding samples into ``out_dir`` (ScreenSpot format); returns ``out_dir``.

    Layout: ``synth_{mobile,desktop,web}.json`` (records with img_filename, bbox [x, y, w, h] in screenshot
    px, instruction, data_type, data_source, plus platform, language, target_id, page, viewport,
    device_scale_factor), ``images/*.png``, ``pages/*.html`` and a ``dataset.json`` card. ``screens``
    replaces the default screen profiles (pages go round-robin over their platforms).
    """
    table: dict[str, tuple[Profile, ...]] = PROFILES
    if screens:
        table = {}
        for screen in screens:
            table[screen.platform] = (*table.get(screen.platform, ()), screen)
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    from pixelpilot.env.browser.env import acquire_playwright, release_playwright

    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    (out_dir / "pages").mkdir(parents=True, exist_ok=True)
    records: dict[str, list[dict[str, Any]]] = {p: [] for p in table}
    t0 = time.perf_counter()
    pw = acquire_playwright()
    browser = pw.chromium.launch(
        executable_path=find_chromium(chromium), headless=True, args=launch_args(), chromium_sandbox=False
    )
    version = browser.version
    pages: dict[Profile, Any] = {}
    count = 0
    page_index = 0
    try:
        while count < n:
            if page_index > 10 * n + 10:  # every page yields targets; this guards a broken layout, not chance
                raise RuntimeError(f"only {count} of {n} samples after {page_index} pages: no visible targets")
            rng = random.Random(f"pixelpilot-synth:{seed}:{page_index}")
            platform = tuple(table)[page_index % len(table)]
            profile = rng.choice(table[platform])
            lang = rng.choice(LANGUAGES)
            page_html, targets = build_page(rng, profile, lang)
            page = pages.get(profile)
            if page is None:  # one context and page per screen profile, reused for every sample on it
                ctx = browser.new_context(
                    viewport={"width": profile.width, "height": profile.height}, device_scale_factor=profile.dpr
                )
                page = pages[profile] = ctx.new_page()
            page.set_content(page_html, wait_until="load")
            page.evaluate("() => document.fonts.ready.then(() => 0)")
            measured = page.evaluate(_MEASURE)
            visible = {m["id"]: m for m in measured["items"]}
            chosen = _choose(rng, [targets[t] for t in visible], min(SAMPLES_PER_PAGE, n - count))
            if chosen:
                page_id = f"{seed:03d}-{page_index:05d}"
                image_name = f"{platform}_{page_id}.png"
                png = page.screenshot(type="png", caret="initial")
                (out_dir / "images" / image_name).write_bytes(png)
                (out_dir / "pages" / f"{platform}_{page_id}.html").write_text(page_html, encoding="utf-8")
                width, height = round(profile.width * profile.dpr), round(profile.height * profile.dpr)
                for target in chosen:
                    records[platform].append(
                        {
                            "img_filename": image_name,
                            "bbox": _bbox(visible[target.id], measured["dpr"], width, height),
                            "instruction": target.instruction,
                            "data_type": target.data_type,
                            "data_source": f"synth-{platform}",
                            "platform": platform,
                            "language": lang,
                            "element": target.kind,
                            "target_id": target.id,
                            "page": f"pages/{platform}_{page_id}.html",
                            "viewport": [profile.width, profile.height],
                            "device_scale_factor": profile.dpr,
                        }
                    )
                count += len(chosen)
            page_index += 1
    finally:
        browser.close()
        release_playwright()
    elapsed = time.perf_counter() - t0
    for platform, recs in records.items():
        (out_dir / f"synth_{platform}.json").write_text(json.dumps(recs, ensure_ascii=False, indent=1), "utf-8")
    splits: dict[str, int] = {}
    languages: dict[str, int] = {}
    for recs in records.values():
        for r in recs:
            key = f"{r['platform']}-{r['data_type']}"
            splits[key] = splits.get(key, 0) + 1
            languages[r["language"]] = languages.get(r["language"], 0) + 1
    card = {
        "name": "pixelpilot synthetic grounding",
        "format": "ScreenSpot: img_filename, bbox [x, y, w, h] in screenshot px, instruction, data_type, data_source",
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "samples": count,
        "pages": page_index,
        "per_split": dict(sorted(splits.items())),
        "per_language": dict(sorted(languages.items())),
        "profiles": [f"{p.platform} {p.width}x{p.height}@{p.dpr:g}" for ps in table.values() for p in ps],
        "chromium": version,
        "elapsed_s": round(elapsed, 2),
        "samples_per_s": round(count / elapsed, 2) if elapsed > 0 else None,
    }
    (out_dir / "dataset.json").write_text(json.dumps(card, ensure_ascii=False, indent=2), "utf-8")
    logger.info("wrote {} grounding samples ({} pages) to {} at {:.1f} samples/s", count, page_index, out_dir,
                count / elapsed if elapsed else 0.0)  # fmt: skip
    return out_dir


def _choose(rng: random.Random, visible: list[Target], k: int) -> list[Target]:
    """Up to ``k`` targets, icons and text alternating where the page has both."""
    icons = [t for t in visible if t.data_type == "icon"]
    texts = [t for t in visible if t.data_type == "text"]
    rng.shuffle(icons)
    rng.shuffle(texts)
    chosen: list[Target] = []
    while len(chosen) < k and (icons or texts):
        for pool in (icons, texts) if rng.random() < 0.5 else (texts, icons):
            if pool and len(chosen) < k:
                chosen.append(pool.pop())
    return sorted(chosen, key=lambda t: int(t.id[1:]))


def _bbox(rect: dict[str, float], dpr: float, width: int, height: int) -> list[int]:
    """CSS rect -> [x, y, w, h] in screenshot px, grown to whole pixels and clamped to the image."""
    x0 = max(0, math.floor(rect["left"] * dpr))
    y0 = max(0, math.floor(rect["top"] * dpr))
    x1 = min(width, math.ceil(rect["right"] * dpr))
    y1 = min(height, math.ceil(rect["bottom"] * dpr))
    return [x0, y0, x1 - x0, y1 - y0]
