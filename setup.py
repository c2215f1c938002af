"""Cascade: one OpenStack endpoint in front of many regions."""
from setuptools import find_packages, setup

setup(
    name="cascade",
    version="0.1.0",
    description="Multi-region federation gateway for OpenStack",
    python_requires=">=3.11",
    packages=find_packages(include=["cascade", "cascade.*"]),
    package_data={"cascade.db": ["migrations/*.py", "migrations/*.mako",
                                 "migrations/versions/*.py", "alembic.ini"]},
    install_requires=[
        "aiohttp>=3.14",
        "SQLAlchemy[asyncio]>=2.0",
        "asyncpg>=0.29",
        "aiosqlite>=0.20",
        "alembic>=1.13",
        "oslo.config>=9.0",
        "oslo.log>=5.0",
        "oslo.messaging>=14.0",
        "keystonemiddleware>=10.0",
        "tenacity>=8.0",
        "PyYAML>=6.0",
        "cryptography>=42",
        "orjson>=3.9",
        "msgspec>=0.18",
        "google-re2>=1.1",
        "oslo.policy>=4.0",
        "gunicorn>=23.0",
    ],
    extras_require={
        "test": [
            "pytest>=8",
            "pytest-aiohttp>=1.0",
            "pytest-asyncio>=0.23",
            "pytest-timeout>=2.3",
            "mypy>=1.10",
            "types-PyYAML",
            "ruff>=0.5",
            "hypothesis>=6.100",
            "setuptools>=70.1",
        ],
    },
    entry_points={
        "console_scripts": [
            "cascade-api = cascade.cmd.api:main",
            "cascade-sync = cascade.cmd.sync:main",
            "cascade-manage = cascade.cmd.manage:main",
        ],
        "oslo.config.opts": [
            "cascade = cascade.config:list_opts",
        ],
        "oslo.policy.policies": [
            "cascade = cascade.policy.rules:list_rules",
        ],
        "oslo.policy.enforcer": [
            "cascade = cascade.policy.enforcer:get_enforcer",
        ],
    },
)
