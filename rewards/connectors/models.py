"""Where each connector stream has read up to (its watermark), whether its last run failed and why, and who is
running it now (a lease, so that two workers never ask Khoros for the same window at once)."""

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from rewards.models_base import Base, UTCDateTime


class ConnectorStateRow(Base):
    __tablename__ = "connector_state"

    connector: Mapped[str] = mapped_column(String(200), primary_key=True)  # the events' source: khoros:<host>
    stream: Mapped[str] = mapped_column(String(50), primary_key=True)  # bulk, liql
    # Everything before this time has been read (the next run starts an overlap earlier).
    watermark: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)  # never a credential: messages are built without them
    failures: Mapped[int] = mapped_column(Integer, default=0)  # consecutive failed runs
    events_accepted: Mapped[int] = mapped_column(BigInteger, default=0)
    lease_holder: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
