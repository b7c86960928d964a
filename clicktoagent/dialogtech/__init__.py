"""Everything that talks to DialogTech (or stands in for it)."""
