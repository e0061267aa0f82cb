"""The service report: a PDF per visit for the customer, in Chinese, rendered with fpdf2 and a
CJK font installed by the project (Debian's ``fonts-wqy-microhei``; see README)."""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fpdf import FPDF
from PIL import Image

from fieldwork.domain.policy import FieldworkPolicy

#: Where the CJK fonts fpdf2 can embed are installed by Debian packages (TrueType outlines).
FONT_CANDIDATES: tuple[Path, ...] = (
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"),
    Path("/usr/share/fonts/truetype/arphic/uming.ttc"),
)


#: Images are embedded at most this many pixels on a side: the signature is printed 50 mm wide,
#: about 600 px at 300 dpi; a larger image only makes the PDF slow and heavy.
EMBED_MAX_SIDE = 600
#: An image stored with more pixels than uploads may have now (FLD-10) is not decoded at all.
EMBED_MAX_PIXELS = FieldworkPolicy.model_fields["upload_max_pixels"].default


def find_cjk_font(configured: Path | None = None) -> Path | None:
    """The configured font when it exists, else the first installed candidate, else None."""
    if configured is not None:
        return configured if configured.is_file() else None
    return next((p for p in FONT_CANDIDATES if p.is_file()), None)


@dataclass(frozen=True)
class ReportLine:
    """A priced line of the charges."""

    description: str
    quantity: str
    amount: str
    unit_price: str = ""
    rule: str = ""
    """The rule that priced the line, e.g. BIL-3."""
    note: str = ""


@dataclass(frozen=True)
class ServiceReport:
    """What the report shows (all text already in Chinese or codes)."""

    order_id: str
    visit_id: str
    customer: str
    address: str
    product: str
    technician: str
    arrived_at: str
    ended_at: str
    on_site: str
    outcome: str
    fault: str
    cause: str
    remedy: str
    tested: str
    parts: Sequence[str] = field(default_factory=list)
    charges: Sequence[ReportLine] = field(default_factory=list)
    total: str = "0.00"
    schedule_version: str = "—"
    quote_id: str = "—"
    ratings: str = "—"
    sign_off: str = "—"
    amount_acknowledged: str = "—"
    signature_image: bytes | None = None


def _embeddable(data: bytes, *, max_pixels: int) -> Image.Image | None:
    """The image shrunk to at most :data:`EMBED_MAX_SIDE` pixels a side, or None when it does
    not decode or declares more than ``max_pixels`` (read from the header, before decoding)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > max_pixels:
                return None
            image.draft("RGB", (EMBED_MAX_SIDE, EMBED_MAX_SIDE))  # JPEG: decode scaled down
            image.thumbnail((EMBED_MAX_SIDE, EMBED_MAX_SIDE))
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    return image


def render_service_report(
    report: ServiceReport, *, font: Path, max_image_pixels: int = EMBED_MAX_PIXELS
) -> bytes:
    """The report as PDF bytes."""
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.add_font("cjk", fname=str(font))
    pdf.set_font("cjk", size=18)
    pdf.cell(0, 12, "上门服务报告", new_x="LMARGIN", new_y="NEXT", align="C")
    pdf.set_font("cjk", size=10)

    def row(label: str, value: str) -> None:
        pdf.multi_cell(0, 7, f"{label}：{value or '—'}", new_x="LMARGIN", new_y="NEXT")

    def heading(text: str) -> None:
        pdf.ln(2)
        pdf.set_font("cjk", size=12)
        pdf.cell(0, 8, text, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("cjk", size=10)

    row("工单号", report.order_id)
    row("上门编号", report.visit_id)
    row("客户", report.customer)
    row("地址", report.address)
    row("产品", report.product)
    row("服务工程师", report.technician)
    row("到达时间", report.arrived_at)
    row("结束时间", report.ended_at)
    row("服务时长", report.on_site)
    row("结果", report.outcome)
    heading("检查与维修")
    row("故障现象", report.fault)
    row("故障原因", report.cause)
    row("处理措施", report.remedy)
    row("试机", report.tested)
    heading("更换配件")
    if report.parts:
        for part in report.parts:
            pdf.multi_cell(0, 7, f"· {part}", new_x="LMARGIN", new_y="NEXT")
    else:
        pdf.cell(0, 7, "无", new_x="LMARGIN", new_y="NEXT")
    heading("收费明细")
    if report.charges:
        for line in report.charges:
            price = f"  单价 {line.unit_price} 元" if line.unit_price else ""
            why = " ".join(x for x in (line.rule, line.note) if x)
            pdf.multi_cell(
                0,
                7,
                f"· {line.description}  × {line.quantity}{price}  {line.amount} 元"
                + (f"（{why}）" if why else ""),
                new_x="LMARGIN",
                new_y="NEXT",
            )
    else:
        pdf.cell(0, 7, "无收费", new_x="LMARGIN", new_y="NEXT")
    row("合计", f"{report.total} 元")
    row("收费标准版本", report.schedule_version)
    row("报价单号", report.quote_id)
    heading("客户评价与签字")
    row("评价", report.ratings)
    row("签字", report.sign_off)
    row("客户签字确认金额", report.amount_acknowledged)
    if report.signature_image:
        # An upload that passed the type check but does not decode, or is too large, is named.
        image = _embeddable(report.signature_image, max_pixels=max_image_pixels)
        try:
            if image is not None:
                pdf.image(image, w=50)
        except Exception:
            image = None
        if image is None:
            row("签名图片", "无法显示")
    return bytes(pdf.output())
