"""conferences"""
