"""proctor"""
